"""Dropout ops: dropout (single elements) and dropout2d (whole channels), inverted scaling.

In training each element (or channel) is kept with probability 1 - p and the kept ones are scaled
by 1 / (1 - p), so the expected output equals the input and evaluation needs no rescaling: in eval
dropout is the identity. Masks come from minicnn's seeded generator (`minicnn.manual_seed`).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, get_rng


class Dropout(Function):
    """y = x * mask, with mask holding 0 or 1/(1-p); mask may broadcast (dropout2d: (N, C, 1, 1))."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None


def _check_p(p, name):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")


def _mask(shape, p, dtype):
    """0 with probability p, else 1/(1-p) (all zeros when p == 1)."""
    keep = get_rng().random(shape, dtype=np.float32) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return keep.astype(dtype) * dtype.type(scale)


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero each element with probability p and scale the rest by 1/(1-p); identity unless training.

    `inplace` is accepted for PyTorch compatibility; minicnn always returns a new tensor."""
    _check_p(p, "dropout")
    if not training or p == 0:
        return input
    return Dropout.apply(input, _mask(input.shape, p, input.dtype))


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Zero whole channels of input (N, C, H, W) with probability p, scaling the rest by 1/(1-p).

    Neighbouring pixels of a feature map are strongly correlated, so dropping single pixels
    barely regularizes a conv layer; dropping the whole map does (Tompson et al., 2015)."""
    _check_p(p, "dropout2d")
    if input.ndim < 3:
        raise ValueError(f"dropout2d expects input of shape (N, C, H, W), got shape {tuple(input.shape)}")
    if not training or p == 0:
        return input
    mask_shape = tuple(input.shape[:2]) + (1,) * (input.ndim - 2)
    return Dropout.apply(input, _mask(mask_shape, p, input.dtype))
