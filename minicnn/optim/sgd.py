"""`SGD`: stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

PyTorch's update, for a parameter p with gradient g (lr: learning rate, mu: momentum,
tau: dampening, lambda: weight decay):

    g <- g + lambda * p                              (L2 weight decay folded into the gradient)
    b <- g                      on the first step    (the momentum buffer starts AT the gradient,
    b <- mu * b + (1 - tau) * g afterwards            not at zero, and is not dampened then)
    g <- g + mu * b  (nesterov)   or   g <- b
    p <- p - lr * g

With momentum=0 this is plain gradient descent, p <- p - lr * (g + lambda * p).
"""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer


class SGD(Optimizer):
    """SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False).

    maximize=True climbs the objective instead (the gradient's sign is flipped).
    State per parameter: 'momentum_buffer' (only when momentum != 0).
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check(self, options: dict) -> None:
        if options["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {options['lr']} (SGD needs lr >= 0)")
        if options["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {options['momentum']} (SGD needs momentum >= 0)")
        if options["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {options['weight_decay']} "
                             "(SGD needs weight_decay >= 0)")
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening (got momentum="
                             f"{options['momentum']}, dampening={options['dampening']})")

    def _update(self, p, grad: np.ndarray, group: dict) -> None:
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad + weight_decay * p.data            # a new array: p.grad stays as backward left it
        if momentum != 0:
            state = self.state[p]
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, dtype=p.dtype, copy=True)
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        p.data -= group["lr"] * grad
