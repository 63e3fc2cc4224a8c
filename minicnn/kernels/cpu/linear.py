"""The fully connected layer on the CPU: y = x @ W^T + b, as BLAS matrix products on minicnn's
threads.

x is (..., in_features) (any leading axes), W (out_features, in_features) (PyTorch's layout), b
(out_features,); float32 stays float32, anything else is computed in float64. The backward pass
is two more products: gx = gy @ W, gW = gy^T @ x (summed over
every leading position), and gb = the sum of gy over those positions.

Why not NumPy's ``@``: with several threads, OpenBLAS would run these products on threads of its
own, which then spin beside the convolution workers (chunks.py) and took a core from them in the
rest of a training step (LeNet-5's C3 and C1 workers then joined in one call of ten). Here the
products are cut into blocks of rows (of x and gy for y and gx, of gW for gW) and run like a
convolution's chunks: on the calling thread and the workers, BLAS on one thread each.
"""
import numpy as np
from numba import njit

from . import spin
from .blas import gemm
from .chunks import over_chunks


@njit(cache=True, nogil=True)
def _product(go_flags, go_index, go_value, trans_a, trans_b, a, b, c):
    """c = op(a) @ op(b) (blas.gemm) for one block of rows, after chunks.py's go."""
    spin.publish_if(go_flags, go_index, go_value)
    gemm(trans_a, trans_b, a, b, 0.0, c)


def _dtype(*arrays):
    """The products' dtype: float32 when NumPy's promotion gives it, else float64."""
    return np.float32 if np.result_type(*arrays) == np.float32 else np.float64


def linear_forward(x, weight, bias):
    """y (..., out_features) = x @ weight^T + bias."""
    dtype = _dtype(x, weight)
    x2 = np.ascontiguousarray(x, dtype=dtype).reshape(-1, x.shape[-1])
    w = np.ascontiguousarray(weight, dtype=dtype)
    y = np.empty((x2.shape[0], w.shape[0]), dtype)
    over_chunks(lambda s, e, go: _product(*go, False, True, x2[s:e], w, y[s:e]), x2.shape[0], sum(w.shape),
                y.itemsize)
    if bias is not None:
        y += bias
    return y.reshape(*x.shape[:-1], w.shape[0])


def linear_backward(x, weight, gy, needs=(True, True, True)):
    """(gx, gw, gb): the gradients of linear_forward w.r.t. x, weight and bias given gy; ``needs``
    says which to compute (None in their place otherwise)."""
    dtype = _dtype(x, weight, gy)
    g2 = np.ascontiguousarray(gy, dtype=dtype).reshape(-1, gy.shape[-1])
    w = np.ascontiguousarray(weight, dtype=dtype)
    gx = gw = gb = None
    if needs[0]:
        gx = np.empty((g2.shape[0], w.shape[1]), dtype)
        over_chunks(lambda s, e, go: _product(*go, False, False, g2[s:e], w, gx[s:e]), g2.shape[0],
                    sum(w.shape), gx.itemsize)
        gx = gx.reshape(*gy.shape[:-1], w.shape[1])
    if needs[1]:
        x2 = np.ascontiguousarray(x, dtype=dtype).reshape(-1, x.shape[-1])
        gw = np.empty(w.shape, dtype)            # rows s:e of gW = gy[:, s:e]^T @ x
        over_chunks(lambda s, e, go: _product(*go, True, False, g2[:, s:e], x2, gw[s:e]), w.shape[0],
                    x2.shape[0] + x2.shape[1], gw.itemsize)
    if needs[2]:
        gb = g2.sum(axis=0)
    return gx, gw, gb
