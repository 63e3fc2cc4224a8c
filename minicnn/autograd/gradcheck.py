"""`gradcheck`: compare backward with central finite differences, element by element.

For an output y = fn(*inputs), gradcheck draws a fixed random weighting r of
y's shape and checks the scalar L = sum(r * y): the analytic dL/dx from one
backward against (L(x + eps) - L(x - eps)) / (2 eps) for every element of
every input that requires grad. A wrong gradient anywhere changes L's
gradient, so one backward checks the whole Jacobian without building it.
"""
from __future__ import annotations

import numpy as np

from .function import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by gradcheck when analytic and numeric gradients disagree."""


def _outputs(fn, inputs):
    out = fn(*inputs)
    return out if isinstance(out, (tuple, list)) else (out,)


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, seed: int = 0) -> bool:
    """True when fn's backward matches finite differences for every input element.

    fn: callable taking `inputs` and returning a Tensor (or a tuple of Tensors).
    inputs: a Tensor or a sequence; the float64 Tensors with requires_grad=True are checked.
    On a mismatch raises GradcheckError naming the input, the worst element, the analytic
    and numeric values (or returns False with raise_exception=False).
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {inputs[i].dtype}; finite differences "
                            "need float64 inputs (use tensor(..., dtype=np.float64))")

    rng = np.random.default_rng(seed)
    outs = _outputs(fn, inputs)
    weights = [rng.standard_normal(o.shape) for o in outs]

    def weighted_sum(outputs):
        return sum(float(np.sum(w * o.data)) for w, o in zip(weights, outputs))

    saved_grads = [inputs[i].grad for i in checked]   # leave the caller's .grad untouched
    for i in checked:
        inputs[i].grad = None
    loss = None
    for w, o in zip(weights, outs):
        if o.requires_grad:
            term = (o * Tensor(w)).sum()
            loss = term if loss is None else loss + term
    if loss is None:
        raise ValueError("gradcheck: no output of fn requires grad; is fn differentiable in its inputs?")
    loss.backward()
    analytics = []
    for i, saved in zip(checked, saved_grads):
        g = inputs[i].grad
        analytics.append(np.zeros(inputs[i].shape) if g is None else g.data.astype(np.float64))
        inputs[i].grad = saved

    for i, analytic in zip(checked, analytics):
        x = inputs[i]
        numeric = np.zeros(x.shape)
        with no_grad():
            for k in np.ndindex(x.shape):  # index x.data itself: works for non-contiguous arrays too
                original = x.data[k]
                x.data[k] = original + eps
                plus = weighted_sum(_outputs(fn, inputs))
                x.data[k] = original - eps
                minus = weighted_sum(_outputs(fn, inputs))
                x.data[k] = original
                numeric[k] = (plus - minus) / (2 * eps)
        error = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
        if np.any(error > 0):
            worst = np.unravel_index(int(np.argmax(error)), x.shape)
            message = (f"gradcheck failed for input {i} (shape {x.shape}) at element {tuple(int(j) for j in worst)}: "
                       f"analytic {analytic[worst]:.8g}, numeric {numeric[worst]:.8g} "
                       f"(tolerance atol={atol} + rtol={rtol} * |numeric|); "
                       f"{int(np.sum(error > 0))} of {x.numel()} elements disagree")
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True
