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

from .blas import gemm
from .chunks import next_chunk, over_chunks


@njit(cache=True, nogil=True)
def _products(plan, go, trans_a, trans_b, a, b, c):
    """Rows start:stop of c = op(a) @ op(b) (blas.gemm), for each chunk this thread takes: with
    a's rows start:stop, or its columns start:stop when trans_a (op(a) = a^T)."""
    index, start, stop = next_chunk(plan, go, -1)
    while index >= 0:
        block = a[:, start:stop] if trans_a else a[start:stop]
        gemm(trans_a, trans_b, block, b, 0.0, c[start:stop])
        index, start, stop = next_chunk(plan, go, index)


def _dtype(*arrays):
    """The products' dtype: float32 when NumPy's promotion gives it, else float64."""
    return np.float32 if np.result_type(*arrays) == np.float32 else np.float64


def _product(trans_a, trans_b, a, b, c, entries_per_row):
    """c = op(a) @ op(b), its rows cut into chunks for minicnn's threads (_products); c returned.
    ``entries_per_row``: what one row of c touches, which sets the chunk size."""
    over_chunks(lambda plan, go, images: _products(plan, go, trans_a, trans_b, a, b, c), c.shape[0],
                entries_per_row, c.itemsize)
    return c


def linear_forward(x, weight, bias):
    """y (..., out_features) = x @ weight^T + bias."""
    dtype = _dtype(x, weight)
    x2 = np.ascontiguousarray(x, dtype=dtype).reshape(-1, x.shape[-1])
    w = np.ascontiguousarray(weight, dtype=dtype)
    y = _product(False, True, x2, w, np.empty((x2.shape[0], w.shape[0]), dtype), sum(w.shape))
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
        gx = _product(False, False, g2, w, np.empty((g2.shape[0], w.shape[1]), dtype), sum(w.shape))
        gx = gx.reshape(*gy.shape[:-1], w.shape[1])
    if needs[1]:                                 # rows s:e of gW = gy[:, s:e]^T @ x
        x2 = np.ascontiguousarray(x, dtype=dtype).reshape(-1, x.shape[-1])
        gw = _product(True, False, g2, x2, np.empty(w.shape, dtype), x2.shape[0] + x2.shape[1])
    if needs[2]:
        gb = g2.sum(axis=0)
    return gx, gw, gb
