"""Normalization ops: batch_norm (per-channel statistics) and local_response_norm (AlexNet's LRN).

batch_norm in training normalizes each channel with the batch's own mean and (biased) variance and,
when running statistics are given, updates them in place as PyTorch does:

    running_mean = (1 - momentum) * running_mean + momentum * mean
    running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)     (unbiased)

with M = N * H * W values per channel. In eval it uses the running statistics and nothing changes.
The kernels (statistics, normalization, its gradient, the running update) come from kernels_for(x):
minicnn.kernels.cpu (batchnorm.py, elementwise.py) or minicnn.kernels.cuda.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..kernels.backend import kernels_for


class BatchNorm(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, x, running_mean, running_var, weight, bias, training, momentum, eps):
        kernels = kernels_for(x)
        c = x.shape[1]
        w = np.ones(c, x.dtype) if weight is None else weight      # (the GPU kernels copy these over)
        b = np.zeros(c, x.dtype) if bias is None else bias
        if training:
            mean, var = kernels.batch_norm_stats(x)
            if running_mean is not None:
                kernels.batch_norm_update_running(running_mean, running_var, mean, var, momentum, x.size // c)
        else:
            mean, var = kernels.astype(running_mean, np.float64), kernels.astype(running_var, np.float64)
        invstd = kernels.batch_norm_invstd(var, eps)                 # 1 / sqrt(var + eps)
        ctx.save_for_backward(x, mean, invstd, w)
        ctx.training = training
        return kernels.batch_norm_forward(x, mean, invstd, w, b)

    @staticmethod
    def backward(ctx, gy):
        x, mean, invstd, w = ctx.saved_tensors
        gx, gw, gb = kernels_for(gy).batch_norm_backward(gy, x, mean, invstd, w, ctx.training)
        needs = ctx.needs_input_grad
        return (gx if needs[0] else None, None, None, gw if needs[3] else None,
                gb if needs[4] else None, None, None, None)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5):
    """Normalize each channel of input (N, C, *) and apply weight (C,) and bias (C,).

    training=True: batch statistics, and running_mean/running_var (C,) (if not None) are updated in
    place; training=False: the running statistics are used. Same arguments and numbers as
    torch.nn.functional.batch_norm.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm expects input of shape (N, C, *), got shape {input.shape}")
    c = input.shape[1]
    for name, t in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if t is not None and tuple(t.shape) != (c,):
            raise ValueError(f"batch_norm: {name} has shape {tuple(t.shape)}, expected ({c},): "
                             f"one value per channel of the input {input.shape}")
    if training and int(np.prod(input.shape)) // c <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input "
                         f"size {tuple(input.shape)} (a variance needs at least two values: use a "
                         "batch of 2 or more, or call model.eval())")
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: training=False uses running_mean and running_var, but they are None")
    return BatchNorm.apply(input, running_mean, running_var, weight, bias, bool(training),
                           float(momentum), float(eps))


class LocalResponseNorm(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        y, d = kernels_for(x).local_response_norm_forward(x, size, alpha, beta, k)
        ctx.save_for_backward(x, d)
        ctx.args = (size, alpha, beta)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, d = ctx.saved_tensors
        return kernels_for(gy).local_response_norm_backward(gy, x, d, *ctx.args), None, None, None, None


def local_response_norm(input, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
    """AlexNet's local response normalization across channels of input (N, C, *).

    b_c = a_c / (k + alpha / size * sum of a_{c'}^2 over the `size` channels centred on c) ** beta,
    zero-padded at the first and last channels (PyTorch's formula)."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm expects 3D or higher dimensional input (N, C, ...), "
                         f"got {input.ndim} dimensions (shape {tuple(input.shape)})")
    if int(size) != size or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive integer, got {size!r}")
    return LocalResponseNorm.apply(input, int(size), float(alpha), float(beta), float(k))
