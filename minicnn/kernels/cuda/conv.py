"""2-D convolution on the GPU: im2col + the tiled GEMM, the same algorithm as the CPU kernels.

    forward       cols = im2col(x)                    (C*kh*kw, N*Ho*Wo)
                  rows = W @ cols                     (O, N*Ho*Wo)            GEMM
                  y    = rows_to_nchw(rows) + b       (N, O, Ho, Wo)
    backward      rows = nchw_to_rows(gy), gb = sum   (O, N*Ho*Wo)
                  gW   = rows @ im2col(x)^T           (O, C*kh*kw)            GEMM (split-K)
                  gx   = col2im(W^T @ rows)           (N, C, H, W)            GEMM

Why im2col + GEMM rather than a direct kernel (one thread per output, looping over C*kh*kw): the
three products then run in one shared-memory GEMM (matmul.py) that reads each input element once
per tile instead of once per output, the backward pass needs no atomics (col2im gathers), and the
code reads like the CPU version line for line. The price is the column matrix: C*kh*kw times the
input's size in GPU memory. With groups, each GEMM is batched over the groups (grid axis z).

The column and row matrices are scratch space, reused from call to call as on the CPU (per host
thread: kernels of one thread run in order on its stream, so a buffer is never overwritten while
in use); ``release_buffers()`` frees them. Arguments and returns as minicnn.kernels.cpu.conv, with
numba.cuda device arrays in place of NumPy arrays (NumPy arguments are copied to the GPU).
"""
import numpy as np

from ..scratch import ScratchBuffers
from ..shape_rules import conv_output_size
from .im2col import channel_sums, col2im, im2col, nchw_to_rows, rows_to_nchw
from .launch import MAX_BLOCKS, THREADS, as_device, as_ncl, empty, full, grid_1d
from .matmul import matmul

_scratch = ScratchBuffers(empty)
_buffer = _scratch.get


def release_buffers():
    """Free the scratch buffers of this thread (they are allocated again on the next call)."""
    _scratch.release()


def _columns(x, kernel, stride, padding, dilation, out_hw):
    """im2col of x into the reused 'cols' buffer: (C*kh*kw, N*Ho*Wo)."""
    n, c = x.shape[:2]
    cols = _buffer("cols", (c * kernel[0] * kernel[1], n * out_hw[0] * out_hw[1]), x.dtype)
    im2col[grid_1d(cols.size)](x, *kernel, *stride, *padding, *dilation, *out_hw, cols)
    return cols


def _grouped(a, groups):
    """(rows, cols) -> (groups, rows / groups, cols): the batch of per-group matrices."""
    return a.reshape(groups, a.shape[0] // groups, a.shape[1])


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y (N, O, Ho, Wo) = the cross-correlation of x with w, plus b."""
    x = as_device(x, name="x")
    w = as_device(w, x.dtype, "weight")
    n, o = x.shape[0], w.shape[0]
    kernel = tuple(w.shape[2:])
    out_hw = conv_output_size(tuple(x.shape[2:]), kernel, stride, padding, dilation)
    cols = _columns(x, kernel, stride, padding, dilation, out_hw)
    rows = _buffer("rows", (o, cols.shape[1]), x.dtype)
    matmul(w.reshape(groups, o // groups, -1), _grouped(cols, groups), _grouped(rows, groups))
    bias = full(o, 0, x.dtype) if b is None else as_device(b, x.dtype, "bias")
    y = empty((n, o, *out_hw), x.dtype)
    rows_to_nchw[grid_1d(y.size)](rows, bias, y)
    return y


def _gradient_rows(gy):
    """gy (N, O, Ho, Wo) -> rows (O, N*Ho*Wo) in the reused 'rows' buffer."""
    n, o, ho, wo = gy.shape
    rows = _buffer("rows", (o, n * ho * wo), gy.dtype)
    nchw_to_rows[grid_1d(gy.size)](gy, rows)
    return rows


def _weight_grad(rows, x, w_shape, stride, padding, dilation, groups, out_hw):
    """gw = rows @ im2col(x)^T per group, split over the long N*Ho*Wo reduction."""
    cols = _columns(x, tuple(w_shape[2:]), stride, padding, dilation, out_hw)
    gw = empty(w_shape, x.dtype)
    matmul(_grouped(rows, groups), _grouped(cols, groups), gw.reshape(groups, w_shape[0] // groups, -1),
           trans_b=True)
    return gw


def _input_grad(rows, w, x_shape, stride, padding, dilation, groups, out_hw):
    """gx = col2im(W^T @ rows), with W^T @ rows in the reused 'cols' buffer."""
    o, nl = rows.shape
    gcols = _buffer("cols", (x_shape[1] * w.shape[2] * w.shape[3], nl), rows.dtype)
    matmul(w.reshape(groups, o // groups, -1), _grouped(rows, groups), _grouped(gcols, groups), trans_a=True)
    gx = empty(x_shape, rows.dtype)
    col2im[grid_1d(gx.size)](gcols, *w.shape[2:], *stride, *padding, *dilation, *out_hw, gx)
    return gx


def conv2d_backward(x, w, gy, stride, padding, dilation, groups, needs=(True, True, True)):
    """(gx, gw, gb): the gradients of conv2d_forward w.r.t. x, w and b given gy (N, O, Ho, Wo).

    ``needs`` says which of the three to compute (None in their place otherwise); computing them
    together shares the layout change of gy."""
    x = as_device(x, name="x")
    w = as_device(w, x.dtype, "weight")
    gy = as_device(gy, x.dtype, "grad_output")
    rows = _gradient_rows(gy)
    out_hw = tuple(gy.shape[2:])
    gx = gw = gb = None
    if needs[1]:                                  # before _input_grad: both use the 'cols' buffer
        gw = _weight_grad(rows, x, tuple(w.shape), stride, padding, dilation, groups, out_hw)
    if needs[0]:
        gx = _input_grad(rows, w, tuple(x.shape), stride, padding, dilation, groups, out_hw)
    if needs[2]:
        gb = conv2d_bias_grad(gy)
    return gx, gw, gb


def conv2d_input_grad(gy, w, x_shape, stride, padding, dilation, groups):
    """gx (x_shape) = col2im(W^T gy): the input gradient, which is also conv_transpose2d(gy, w)."""
    gy = as_device(gy, name="grad_output")
    w = as_device(w, gy.dtype, "weight")
    return _input_grad(_gradient_rows(gy), w, tuple(x_shape), stride, padding, dilation, groups,
                       tuple(gy.shape[2:]))


def conv2d_weight_grad(x, gy, w_shape, stride, padding, dilation, groups):
    """gw (w_shape) = gy cols^T, summed over the batch."""
    x = as_device(x, name="x")
    gy = as_device(gy, x.dtype, "grad_output")
    return _weight_grad(_gradient_rows(gy), x, tuple(w_shape), stride, padding, dilation, groups,
                        tuple(gy.shape[2:]))


def conv2d_bias_grad(gy):
    """gb (O,) = gy summed over batch and positions (accumulated in float64)."""
    gy = as_device(gy, name="grad_output")
    gb = empty(gy.shape[1], gy.dtype)
    if gb.size:
        channel_sums[min(gb.size, MAX_BLOCKS), THREADS](as_ncl(gy, "grad_output"), gb)
    return gb
