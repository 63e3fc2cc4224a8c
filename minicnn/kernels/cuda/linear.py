"""The fully connected layer on the GPU: y = x @ W^T + b with the tiled GEMM of matmul.py.

Arguments and returns as minicnn.kernels.cpu.linear, with numba.cuda device arrays in place of
NumPy arrays (NumPy arguments are copied to the GPU). x (..., in_features) is seen as the matrix
(rows, in_features), which needs it C-contiguous (as every array the GPU kernels return is).
"""
import numpy as np

from .elementwise import bias_add
from .im2col import channel_sums
from .launch import MAX_BLOCKS, THREADS, as_device, empty
from .matmul import matmul


def _rows(a, name):
    """(..., features) -> the (rows, features) view of a C-contiguous device array."""
    *rows, features = tuple(a.shape)
    if not a.is_c_contiguous():
        raise ValueError(f"minicnn.kernels.cuda.linear: {name} of shape {tuple(a.shape)} must be C-contiguous")
    return a.reshape(int(np.prod(rows)), features)


def linear_forward(x, weight, bias):
    """y (..., out_features) = x @ weight^T + bias."""
    x = as_device(x, name="x")
    weight = as_device(weight, x.dtype, "weight")
    y = matmul(_rows(x, "x"), weight, trans_b=True)
    if bias is not None:
        y = bias_add(y, bias)
    return y.reshape(*tuple(x.shape)[:-1], weight.shape[0])


def linear_backward(x, weight, gy, needs=(True, True, True)):
    """(gx, gw, gb): the gradients of linear_forward w.r.t. x, weight and bias given gy; ``needs``
    says which to compute (None in their place otherwise)."""
    x = as_device(x, name="x")
    weight = as_device(weight, x.dtype, "weight")
    g2 = _rows(as_device(gy, x.dtype, "grad_output"), "grad_output")
    gx = matmul(g2, weight).reshape(x.shape) if needs[0] else None          # gy @ W
    gw = matmul(g2, _rows(x, "x"), trans_a=True) if needs[1] else None      # gy^T @ x
    gb = None
    if needs[2]:                                                            # gy summed over the rows
        gb = empty(g2.shape[1], g2.dtype)
        channel_sums[min(max(gb.size, 1), MAX_BLOCKS), THREADS](g2.reshape(*g2.shape, 1), gb)
    return gx, gw, gb
