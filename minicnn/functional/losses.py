"""Losses: cross_entropy (integer class targets) and mse_loss."""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..kernels.backend import kernels_for


def _reduce(values, reduction: str):
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


class CrossEntropy(Function):
    """Softmax + negative log-likelihood in one node: the gradient is softmax - target.
    The formulas are in minicnn.kernels.cpu.loss (NumPy); minicnn.kernels.cuda.loss on the GPU."""

    runs_on_gpu = True

    @staticmethod
    def forward(ctx, logits, target, reduction, label_smoothing):
        loss, log_p = kernels_for(logits).cross_entropy_forward(logits, target, reduction, label_smoothing)
        ctx.save_for_backward(log_p, target)
        ctx.conf = (reduction, label_smoothing)
        return loss

    @staticmethod
    def backward(ctx, g):
        log_p, target = ctx.saved_tensors
        return kernels_for(g).cross_entropy_backward(g, log_p, target, *ctx.conf), None, None, None


def _class_targets(name: str, input, target, reduction: str):
    """Check (N, C) scores against integer targets (N,) in 0..C-1; return the targets as an array.
    Targets on the GPU are checked for shape and dtype only: the range check would copy them back
    (the GPU kernel gives an out-of-range target a NaN loss instead)."""
    target_array = target.data if isinstance(target, Tensor) else np.asarray(target)
    if input.ndim != 2:
        raise ValueError(f"{name} expects input of shape (N, C), got {input.shape}")
    n, c = input.shape
    if tuple(target_array.shape) != (n,) or target_array.dtype.kind not in "iu":
        raise ValueError(f"{name} expects integer class targets of shape ({n},), got "
                         f"shape {tuple(target_array.shape)} and dtype {target_array.dtype}")
    if n and isinstance(target_array, np.ndarray) and (target_array.min() < 0 or target_array.max() >= c):
        raise ValueError(f"{name}: target classes must lie in 0..{c - 1}, got values "
                         f"{target_array.min()}..{target_array.max()}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    return target_array


def cross_entropy(input, target, reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross-entropy between logits `input` (N, C) and integer class `target` (N,).

    Same numbers as torch.nn.functional.cross_entropy, label smoothing included.
    """
    target_array = _class_targets("cross_entropy", input, target, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
    # the targets go in as a Tensor so that apply checks they are on the logits' device
    return CrossEntropy.apply(input, Tensor(target_array), reduction, label_smoothing)


def nll_loss(input, target, reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities `input` (N, C) at integer `target` (N,)."""
    target_array = _class_targets("nll_loss", input, target, reduction)
    picked = input[np.arange(len(target_array)), target_array]
    return _reduce(-picked, reduction)


def mse_loss(input, target, reduction: str = "mean"):
    """Mean (or sum) of squared differences; shapes must match."""
    if not isinstance(target, Tensor):
        target = Tensor(np.asarray(target, dtype=input.dtype))
    if input.shape != target.shape:
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    return _reduce(diff * diff, reduction)
