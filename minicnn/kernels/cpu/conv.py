"""2-D convolution on the CPU: im2col (Numba) + one BLAS matrix product per group (NumPy matmul).

Why this algorithm: a convolution is a matrix product once every receptive field is copied into a
column (im2col). The product then runs in the BLAS GEMM NumPy links to, which is close to the
machine's peak; what is left to us is moving memory, which Numba does in one parallel pass per step:

    forward       cols = im2col(x)                    (C*kh*kw, N*Ho*Wo)
                  rows = W @ cols                     (O, N*Ho*Wo)            GEMM
                  y    = rows_to_nchw(rows) + b       (N, O, Ho, Wo)
    backward      rows = nchw_to_rows(gy), gb = sum   (O, N*Ho*Wo)
                  gW   = rows @ im2col(x)^T           (O, C*kh*kw)            GEMM
                  gx   = col2im(W^T @ rows)           (N, C, H, W)            GEMM

The whole batch shares one column matrix, so each layer is one large GEMM (per group) instead of N
small ones. The column and row matrices are scratch space: they live in per-thread buffers that are
reused from call to call, because a fresh array of many megabytes costs a page fault per 4 KiB on
every call. Only the returned arrays are new. ``release_buffers()`` frees the scratch space.

Threads: the Numba passes honour ``numba.set_num_threads``, the GEMMs the BLAS thread count
(threadpoolctl). Numba's OpenMP layer and a multi-threaded OpenBLAS slow each other down 2-3x, so
minicnn.kernels.cpu selects Numba's ``workqueue`` layer unless NUMBA_THREADING_LAYER says otherwise.

Arguments: x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) or None; stride, padding, dilation are
(h, w) pairs of ints (padding symmetric: asymmetric padding is F.pad's job); float32 or float64,
the output has the input's dtype. Shapes are assumed checked by the caller (minicnn.functional).
"""
import threading

import numpy as np

from ..shape_rules import conv_output_size
from .im2col import col2im, im2col, nchw_to_rows, rows_to_nchw

_scratch = threading.local()


def _buffer(slot, shape, dtype):
    """A reused scratch array of ``shape``: a view of a per-thread buffer that only grows."""
    size = int(np.prod(shape))
    buffers = _scratch.__dict__.setdefault("buffers", {})
    key = (slot, np.dtype(dtype))
    if key not in buffers or buffers[key].size < size:
        buffers[key] = np.empty(size, dtype)
    return buffers[key][:size].reshape(shape)


def release_buffers():
    """Free the scratch buffers of this thread (they are allocated again on the next call)."""
    _scratch.__dict__.pop("buffers", None)


def _columns(x, kernel, stride, padding, dilation, out_hw):
    """im2col of x into the reused 'cols' buffer: (C*kh*kw, N*Ho*Wo)."""
    n, c = x.shape[:2]
    cols = _buffer("cols", (c * kernel[0] * kernel[1], n * out_hw[0] * out_hw[1]), x.dtype)
    im2col(x, *kernel, *stride, *padding, *dilation, *out_hw, cols)
    return cols


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y (N, O, Ho, Wo) = the cross-correlation of x with w, plus b."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    n, o = x.shape[0], w.shape[0]
    kernel = w.shape[2:]
    out_hw = conv_output_size(x.shape[2:], kernel, stride, padding, dilation)
    cols = _columns(x, kernel, stride, padding, dilation, out_hw)
    rows = _buffer("rows", (o, cols.shape[1]), x.dtype)
    np.matmul(w.reshape(groups, o // groups, -1), cols.reshape(groups, -1, cols.shape[1]),
              out=rows.reshape(groups, o // groups, -1))
    bias = np.zeros(o, x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    y = np.empty((n, o, out_hw[0] * out_hw[1]), x.dtype)
    rows_to_nchw(rows, bias, y)
    return y.reshape(n, o, *out_hw)


def _gradient_rows(gy):
    """gy (N, O, Ho, Wo) -> (rows (O, N*Ho*Wo) in the reused 'rows' buffer, bias gradient in float64)."""
    n, o, ho, wo = gy.shape
    rows = _buffer("rows", (o, n * ho * wo), gy.dtype)
    gb64 = np.empty(o)
    nchw_to_rows(gy.reshape(n, o, ho * wo), rows, gb64)
    return rows, gb64


def _input_grad(rows, w, x_shape, stride, padding, dilation, groups, out_hw):
    """gx = col2im(W^T @ rows), with W^T @ rows in the reused 'cols' buffer."""
    o, nl = rows.shape
    gcols = _buffer("cols", (w[0].size * groups, nl), rows.dtype)
    np.matmul(w.reshape(groups, o // groups, -1).transpose(0, 2, 1), rows.reshape(groups, o // groups, nl),
              out=gcols.reshape(groups, -1, nl))
    gx = np.empty(x_shape, rows.dtype)
    col2im(gcols, *w.shape[2:], *stride, *padding, *dilation, *out_hw, gx)
    return gx


def conv2d_backward(x, w, gy, stride, padding, dilation, groups, needs=(True, True, True)):
    """(gx, gw, gb): the gradients of conv2d_forward w.r.t. x, w and b given gy (N, O, Ho, Wo).

    ``needs`` says which of the three to compute (None in their place otherwise); computing them
    together shares the layout change of gy and reuses one column buffer for im2col(x) and W^T gy.
    """
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    gy = np.ascontiguousarray(gy, dtype=x.dtype)
    out_hw = gy.shape[2:]
    rows, gb64 = _gradient_rows(gy)
    gx = gw = None
    if needs[1]:                                  # before _input_grad: both use the 'cols' buffer
        cols = _columns(x, w.shape[2:], stride, padding, dilation, out_hw)
        gw = np.matmul(rows.reshape(groups, -1, rows.shape[1]),
                       cols.reshape(groups, -1, cols.shape[1]).transpose(0, 2, 1)).reshape(w.shape)
    if needs[0]:
        gx = _input_grad(rows, w, x.shape, stride, padding, dilation, groups, out_hw)
    gb = gb64.astype(x.dtype) if needs[2] else None
    return gx, gw, gb


def conv2d_input_grad(gy, w, x_shape, stride, padding, dilation, groups):
    """gx (x_shape) = col2im(W^T gy): the input gradient, which is also conv_transpose2d(gy, w)."""
    gy = np.ascontiguousarray(gy)
    w = np.ascontiguousarray(w, dtype=gy.dtype)
    rows, _ = _gradient_rows(gy)
    return _input_grad(rows, w, tuple(x_shape), stride, padding, dilation, groups, gy.shape[2:])


def conv2d_weight_grad(x, gy, w_shape, stride, padding, dilation, groups):
    """gw (w_shape) = gy cols^T, summed over the batch."""
    w = np.empty(w_shape, x.dtype)                # only its shape is read
    return conv2d_backward(x, w, gy, stride, padding, dilation, groups, (False, True, False))[1]


def conv2d_bias_grad(gy):
    """gb (O,) = gy summed over batch and positions (accumulated in float64)."""
    return gy.sum(axis=(0, 2, 3), dtype=np.float64).astype(gy.dtype)
