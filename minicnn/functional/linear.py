"""`linear`: y = x @ weight.T + bias, PyTorch's layout (weight: out_features x in_features)."""
from __future__ import annotations

import numpy as np

from ..autograd import Function


class Linear(Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"linear: input has {x.shape[-1] if x.ndim else 0} features (shape {x.shape}) but the weight "
                f"{weight.shape} expects in_features={weight.shape[1]}")
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias has shape {bias.shape}, expected ({weight.shape[0]},) "
                             f"(one per output feature of the weight {weight.shape})")
        ctx.save_for_backward(x, weight)
        y = x @ weight.T
        if bias is not None:
            y += bias
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        gx = g @ weight if ctx.needs_input_grad[0] else None
        g2 = g.reshape(-1, g.shape[-1])
        gw = g2.T @ x.reshape(-1, x.shape[-1]) if ctx.needs_input_grad[1] else None
        gb = g2.sum(axis=0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb


def linear(x, weight, bias=None):
    """x: (..., in_features), weight: (out_features, in_features), bias: (out_features,)."""
    return Linear.apply(x, weight, bias)
