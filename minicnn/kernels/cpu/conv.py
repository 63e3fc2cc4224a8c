"""2-D convolution on the CPU: im2col (Numba) + BLAS matrix products (NumPy matmul).

Why this algorithm: a convolution is a matrix product once every receptive field is copied into a
column (im2col). The product then runs in the BLAS GEMM NumPy links to, which is close to the
machine's peak; what is left to us is moving memory, which Numba does in one parallel pass per step.
With K = C/groups * kh * kw rows and L = Ho * Wo pixels per image, the columns take one of two
memory orders, whichever gives better matrix products:

  per image   (N, K, L), when L >= PER_IMAGE_MIN_PIXELS and groups == 1 (large images, few channels):
      forward     y[n]  = [W | b] @ [cols[n]; 1]         (N, O, L) is already NCHW, bias included
      backward    gx    = col2im(W^T @ gy[n]),  gW = sum_n gy[n] @ cols[n]^T,  gb = sum of gy
  whole batch (K, N*L), otherwise (small images, many channels: one large GEMM per group):
      forward     rows  = W @ cols                        (O, N*L);  y = rows_to_nchw(rows) + b
      backward    rows  = nchw_to_rows(gy),  gW = rows @ cols^T,  gx = col2im(W^T @ rows),  gb = sum

The column and row matrices are scratch space: they live in per-thread buffers reused from call to
call, because a fresh array of many megabytes costs a page fault per 4 KiB on every call. Only the
returned arrays are new. ``release_buffers()`` frees the scratch space.

Threads: the Numba passes honour ``numba.set_num_threads`` (and run serially when there is one
thread or little work, see threads.py), the GEMMs the BLAS thread count (threadpoolctl). Numba's
OpenMP layer and a multi-threaded OpenBLAS slow each other down 3-10x, so minicnn.kernels.cpu
selects Numba's ``workqueue`` layer unless NUMBA_THREADING_LAYER says otherwise.

Arguments: x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) or None; stride, padding, dilation are
(h, w) pairs of ints (padding symmetric: asymmetric padding is F.pad's job); float32 or float64,
the output has the input's dtype. Shapes are assumed checked by the caller (minicnn.functional).
"""
import numpy as np

from ..scratch import ScratchBuffers
from ..shape_rules import conv_output_size
from .im2col import (col2im_serial, col2im_threads, im2col_serial, im2col_threads, nchw_to_rows_serial,
                     nchw_to_rows_threads, rows_to_nchw_serial, rows_to_nchw_threads)
from .threads import pick

_scratch = ScratchBuffers(np.empty)
_buffer = _scratch.get


def release_buffers():
    """Free the scratch buffers of this thread (they are allocated again on the next call)."""
    _scratch.release()


PER_IMAGE_MIN_PIXELS = 512


def _per_image(groups, out_hw):
    """True: per-image column matrices (N, K, L); False: one matrix for the batch (K, N*L)."""
    return groups == 1 and out_hw[0] * out_hw[1] >= PER_IMAGE_MIN_PIXELS


def _columns(x, kernel, stride, padding, dilation, out_hw, per_image, extra_rows=0):
    """im2col of x into the reused 'cols' buffer, as (N, K + extra_rows, L) when per_image, else
    (K, N, L); the extra rows are left for the caller to fill."""
    n, c = x.shape[:2]
    k, hw = c * kernel[0] * kernel[1], out_hw[0] * out_hw[1]
    shape = (n, k + extra_rows, hw) if per_image else (k, n, hw)
    cols = _buffer("cols", shape, x.dtype)
    pick(im2col_threads, im2col_serial, cols.size)(x, *kernel, *stride, *padding, *dilation, *out_hw, cols,
                                                   per_image)
    return cols


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y (N, O, Ho, Wo) = the cross-correlation of x with w, plus b."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    n, o = x.shape[0], w.shape[0]
    out_hw = conv_output_size(x.shape[2:], w.shape[2:], stride, padding, dilation)
    if _per_image(groups, out_hw):
        with_bias = b is not None
        cols = _columns(x, w.shape[2:], stride, padding, dilation, out_hw, True, int(with_bias))
        w2 = w.reshape(o, -1)
        if with_bias:                             # [W | b] @ [cols; 1] = W @ cols + b
            cols[:, -1] = 1
            w2 = np.concatenate([w2, np.asarray(b, x.dtype).reshape(o, 1)], axis=1)
        return np.matmul(w2, cols).reshape(n, o, *out_hw)
    cols = _columns(x, w.shape[2:], stride, padding, dilation, out_hw, False)
    nl = n * out_hw[0] * out_hw[1]
    rows = _buffer("rows", (o, nl), x.dtype)
    np.matmul(w.reshape(groups, o // groups, -1), cols.reshape(groups, -1, nl),
              out=rows.reshape(groups, o // groups, nl))
    bias = np.zeros(o, x.dtype) if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    y = np.empty((n, o, out_hw[0] * out_hw[1]), x.dtype)
    pick(rows_to_nchw_threads, rows_to_nchw_serial, y.size)(rows, bias, y)
    return y.reshape(n, o, *out_hw)


def _gradient_rows(gy):
    """gy (N, O, Ho, Wo) -> rows (O, N*Ho*Wo), in the reused 'rows' buffer."""
    n, o, ho, wo = gy.shape
    rows = _buffer("rows", (o, n * ho * wo), gy.dtype)
    pick(nchw_to_rows_threads, nchw_to_rows_serial, rows.size)(gy.reshape(n, o, ho * wo), rows)
    return rows


def _input_grad(gy, w, x_shape, stride, padding, dilation, groups, out_hw, per_image):
    """gx = col2im(W^T @ gy), with W^T @ gy in the reused 'cols' buffer. gy is (N, O, L) when
    per_image, else the batch's rows (O, N*L); out_hw = (Ho, Wo), L = Ho * Wo."""
    n, hw = x_shape[0], out_hw[0] * out_hw[1]
    o, k = w.shape[0], w[0].size
    if per_image:
        gcols = _buffer("cols", (n, k, hw), gy.dtype)
        np.matmul(w.reshape(o, k).T, gy, out=gcols)
    else:
        gcols = _buffer("cols", (groups * k, n, hw), gy.dtype)
        np.matmul(w.reshape(groups, o // groups, k).transpose(0, 2, 1), gy.reshape(groups, o // groups, -1),
                  out=gcols.reshape(groups, k, -1))
    gx = np.empty(x_shape, gy.dtype)
    pick(col2im_threads, col2im_serial, gcols.size)(gcols, *w.shape[2:], *stride, *padding, *dilation, *out_hw,
                                                    gx, per_image)
    return gx


def conv2d_backward(x, w, gy, stride, padding, dilation, groups, needs=(True, True, True)):
    """(gx, gw, gb): the gradients of conv2d_forward w.r.t. x, w and b given gy (N, O, Ho, Wo).

    ``needs`` says which of the three to compute (None in their place otherwise); computing them
    together shares the layout change of gy and the column buffer (im2col(x), then W^T gy).
    """
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    gy = np.ascontiguousarray(gy, dtype=x.dtype)
    n, o = gy.shape[:2]
    out_hw = gy.shape[2:]
    per_image = _per_image(groups, out_hw)
    gb = _bias_grad(gy.reshape(n, o, -1)) if needs[2] else None
    g = gy.reshape(n, o, -1) if per_image else _gradient_rows(gy)
    gw = None
    if needs[1]:                                  # before _input_grad: both use the 'cols' buffer
        cols = _columns(x, w.shape[2:], stride, padding, dilation, out_hw, per_image)
        if per_image:                             # sum over images of gy[n] @ cols[n]^T
            gw = np.matmul(g, cols.transpose(0, 2, 1)).sum(axis=0)
        else:                                     # (cols @ rows^T)^T: OpenBLAS is faster this way round
            nl = g.shape[1]
            gw = np.matmul(cols.reshape(groups, -1, nl), g.reshape(groups, -1, nl).transpose(0, 2, 1))
            gw = gw.transpose(0, 2, 1)
        gw = gw.reshape(w.shape)
    gx = _input_grad(g, w, x.shape, stride, padding, dilation, groups, out_hw, per_image) if needs[0] else None
    return gx, gw, gb


def conv2d_input_grad(gy, w, x_shape, stride, padding, dilation, groups):
    """gx (x_shape) = col2im(W^T gy): the input gradient, which is also conv_transpose2d(gy, w)."""
    gy = np.ascontiguousarray(gy)
    w = np.ascontiguousarray(w, dtype=gy.dtype)
    out_hw = gy.shape[2:]
    if _per_image(groups, out_hw):
        g = gy.reshape(*gy.shape[:2], -1)
        return _input_grad(g, w, tuple(x_shape), stride, padding, dilation, groups, out_hw, True)
    return _input_grad(_gradient_rows(gy), w, tuple(x_shape), stride, padding, dilation, groups, out_hw, False)


def conv2d_weight_grad(x, gy, w_shape, stride, padding, dilation, groups):
    """gw (w_shape) = gy cols^T, summed over the batch."""
    w = np.empty(w_shape, x.dtype)                # only its shape is read
    return conv2d_backward(x, w, gy, stride, padding, dilation, groups, (False, True, False))[1]


def _bias_grad(g):
    """g (N, O, L) summed to (O,): pairwise sums along the contiguous L, then over N in float64."""
    return g.sum(axis=2).sum(axis=0, dtype=np.float64).astype(g.dtype)


def conv2d_bias_grad(gy):
    """gb (O,) = gy summed over batch and positions."""
    gy = np.ascontiguousarray(gy)
    return _bias_grad(gy.reshape(*gy.shape[:2], -1))
