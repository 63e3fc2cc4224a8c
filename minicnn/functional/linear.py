"""`linear`: y = x @ weight.T + bias, PyTorch's layout (weight: out_features x in_features).

The products are in minicnn.kernels.cpu.linear (NumPy) and minicnn.kernels.cuda.linear (the GPU).
"""
from __future__ import annotations

from ..autograd import Function
from ..kernels.backend import kernels_for


class Linear(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        return kernels_for(x).linear_forward(x, weight, bias)             # x @ weight.T + bias

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        return kernels_for(g).linear_backward(x, weight, g, ctx.needs_input_grad)   # g @ W, g^T @ x, sum of g


def linear(x, weight, bias=None):
    """x: (..., in_features), weight: (out_features, in_features), bias: (out_features,)."""
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input has {x.shape[-1] if x.ndim else 0} features (shape {x.shape}) but the weight "
            f"{weight.shape} expects in_features={weight.shape[1]}")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias has shape {bias.shape}, expected ({weight.shape[0]},) "
                         f"(one per output feature of the weight {weight.shape})")
    return Linear.apply(x, weight, bias)
