"""2-D pooling on the GPU: direct kernels, one thread per output element.

Same rules as minicnn.kernels.cpu.pool (and PyTorch). Each thread clips its window to the input
(``_taps``, ``_avg_window``) and visits only the in-bounds part, which is what padding means.

- max: padding acts as -inf (never the max); a tie goes to the FIRST maximum in row-major window
  order, a NaN wins (the first NaN); the index is the flat position h * W + w in the input plane
  (int64), -1 (with -inf) for a dilated window that sees only padding.
- avg: padding adds 0; the divisor follows count_include_pad / divisor_override.
- backward: each output's thread adds its gradient to the input pixels its window read (max: the
  one at its index). Overlapping windows add to the same pixel, so the additions are atomic; the
  order of additions to one pixel varies, and so may its last bits.

Arguments and returns as minicnn.kernels.cpu.pool, with numba.cuda device arrays in place of NumPy
arrays (NumPy arguments are copied to the GPU).
"""
import math

import numpy as np
from numba import cuda

from ..shape_rules import adaptive_window, pool_output_size
from .launch import as_device, empty, fill, grid_1d, unravel4

_adaptive_window = cuda.jit(device=True)(adaptive_window)


@cuda.jit(device=True)
def _taps(start, step, size, k):
    """[lo, hi): the taps t of a window (positions start + t * step, t < k) inside [0, size)."""
    lo = 0 if start >= 0 else (step - 1 - start) // step
    return lo, min(k, (size - 1 - start) // step + 1)


@cuda.jit(device=True)
def _avg_window(o, k, s, p, size, count_include_pad):
    """(start, end, divisor) of one axis of average window o: [start, end) clipped to the input; the
    divisor counts the window clipped to the padded input (count_include_pad) or to the input."""
    start = o * s - p
    end = min(start + k, size + p)
    inside_start, inside_end = max(start, 0), min(end, size)
    return inside_start, inside_end, end - start if count_include_pad else inside_end - inside_start


@cuda.jit(device=True)
def _window_max(x, n, c, h0, dh, i_lo, i_hi, w0, dw, j_lo, j_hi):
    """(max, flat index hh * W + ww) of x[n, c] over the taps hh = h0 + i dh (i_lo <= i < i_hi),
    ww = w0 + j dw (j_lo <= j < j_hi): the first maximum in row-major order, or the first NaN."""
    w = x.shape[3]
    where = (h0 + i_lo * dh) * w + w0 + j_lo * dw
    best = x[n, c, where // w, where % w]
    for i in range(i_lo, i_hi):
        hh = h0 + i * dh
        for j in range(j_lo, j_hi):
            v = x[n, c, hh, w0 + j * dw]
            if v > best or (v != v and best == best):
                best = v
                where = hh * w + w0 + j * dw
    return best, where


@cuda.jit(device=True)
def _window_sum(x, n, c, h0, h1, w0, w1):
    """The sum of x[n, c, h0:h1, w0:w1], in x's dtype."""
    total = x.dtype.type(0)
    for hh in range(h0, h1):
        for ww in range(w0, w1):
            total += x[n, c, hh, ww]
    return total


@cuda.jit(device=True)
def _add_to_window(gx, n, c, h0, h1, w0, w1, g):
    """gx[n, c, h0:h1, w0:w1] += g, atomically (windows overlap)."""
    for hh in range(h0, h1):
        for ww in range(w0, w1):
            cuda.atomic.add(gx, (n, c, hh, ww), g)


@cuda.jit(cache=True)
def _max_pool(x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx):
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, c, oh, ow = unravel4(e, y.shape)
        h0 = oh * sh - ph
        w0 = ow * sw - pw
        i_lo, i_hi = _taps(h0, dh, x.shape[2], kh)
        j_lo, j_hi = _taps(w0, dw, x.shape[3], kw)
        if i_lo >= i_hi or j_lo >= j_hi:          # a dilated window that only sees padding
            y[n, c, oh, ow] = -math.inf
            idx[n, c, oh, ow] = -1
        else:
            y[n, c, oh, ow], idx[n, c, oh, ow] = _window_max(x, n, c, h0, dh, i_lo, i_hi, w0, dw, j_lo, j_hi)


@cuda.jit(cache=True)
def _scatter_by_index(gy, idx, gx):
    """gx[n, c, idx // W, idx % W] += gy[n, c, oh, ow] for each output element (idx -1: skipped)."""
    w = gx.shape[3]
    for e in range(cuda.grid(1), gy.size, cuda.gridsize(1)):
        n, c, oh, ow = unravel4(e, gy.shape)
        k = idx[n, c, oh, ow]
        if k >= 0:
            cuda.atomic.add(gx, (n, c, k // w, k % w), gy[n, c, oh, ow])


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """(y (N, C, Ho, Wo), indices (N, C, Ho, Wo) int64): window maxima and their flat positions."""
    x = as_device(x, name="x")
    out_hw = pool_output_size(tuple(x.shape[2:]), kernel, stride, padding, dilation, ceil_mode)
    y = empty((*x.shape[:2], *out_hw), x.dtype)
    idx = empty(y.shape, np.int64)
    if y.size:
        _max_pool[grid_1d(y.size)](x, *kernel, *stride, *padding, *dilation, y, idx)
    return y, idx


def max_pool2d_backward(gy, indices, x_shape):
    """gx (x_shape): each output gradient added to the input position its index names.
    Serves adaptive_max_pool2d too."""
    gy = as_device(gy, name="grad_output")
    indices = as_device(indices, np.int64, "indices")
    gx = fill(empty(x_shape, gy.dtype), 0)
    if gy.size:
        _scatter_by_index[grid_1d(gy.size)](gy, indices, gx)
    return gx


adaptive_max_pool2d_backward = max_pool2d_backward


@cuda.jit(cache=True)
def _avg_pool(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, y):
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, c, oh, ow = unravel4(e, y.shape)
        h0, h1, ch = _avg_window(oh, kh, sh, ph, x.shape[2], count_include_pad)
        w0, w1, cw = _avg_window(ow, kw, sw, pw, x.shape[3], count_include_pad)
        y[n, c, oh, ow] = _window_sum(x, n, c, h0, h1, w0, w1) / y.dtype.type(divisor or ch * cw)


@cuda.jit(cache=True)
def _avg_pool_backward(gy, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx):
    for e in range(cuda.grid(1), gy.size, cuda.gridsize(1)):
        n, c, oh, ow = unravel4(e, gy.shape)
        h0, h1, ch = _avg_window(oh, kh, sh, ph, gx.shape[2], count_include_pad)
        w0, w1, cw = _avg_window(ow, kw, sw, pw, gx.shape[3], count_include_pad)
        _add_to_window(gx, n, c, h0, h1, w0, w1, gy[n, c, oh, ow] / gy.dtype.type(divisor or ch * cw))


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override=None):
    """y (N, C, Ho, Wo): window means. The divisor is the window size clipped to the padded input
    (count_include_pad) or to the input, or ``divisor_override`` when given (PyTorch's rules)."""
    x = as_device(x, name="x")
    out_hw = pool_output_size(tuple(x.shape[2:]), kernel, stride, padding, 1, ceil_mode)
    y = empty((*x.shape[:2], *out_hw), x.dtype)
    if y.size:
        _avg_pool[grid_1d(y.size)](x, *kernel, *stride, *padding, bool(count_include_pad),
                                   int(divisor_override or 0), y)
    return y


def avg_pool2d_backward(gy, x_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                        divisor_override=None):
    """gx (x_shape): each output gradient divided by its divisor, added to its whole window."""
    gy = as_device(gy, name="grad_output")
    gx = fill(empty(x_shape, gy.dtype), 0)
    if gy.size:
        _avg_pool_backward[grid_1d(gy.size)](gy, *kernel, *stride, *padding, bool(count_include_pad),
                                             int(divisor_override or 0), gx)
    return gx


@cuda.jit(cache=True)
def _adaptive_pool(x, is_max, y, idx):
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, c, oh, ow = unravel4(e, y.shape)
        h0, h1 = _adaptive_window(oh, x.shape[2], y.shape[2])
        w0, w1 = _adaptive_window(ow, x.shape[3], y.shape[3])
        if is_max:
            y[n, c, oh, ow], idx[n, c, oh, ow] = _window_max(x, n, c, h0, 1, 0, h1 - h0, w0, 1, 0, w1 - w0)
        else:
            y[n, c, oh, ow] = _window_sum(x, n, c, h0, h1, w0, w1) / y.dtype.type((h1 - h0) * (w1 - w0))


@cuda.jit(cache=True)
def _adaptive_avg_backward(gy, gx):
    for e in range(cuda.grid(1), gy.size, cuda.gridsize(1)):
        n, c, oh, ow = unravel4(e, gy.shape)
        h0, h1 = _adaptive_window(oh, gx.shape[2], gy.shape[2])
        w0, w1 = _adaptive_window(ow, gx.shape[3], gy.shape[3])
        _add_to_window(gx, n, c, h0, h1, w0, w1, gy[n, c, oh, ow] / gy.dtype.type((h1 - h0) * (w1 - w0)))


def adaptive_avg_pool2d_forward(x, output_size):
    """y (N, C, *output_size): means over windows [floor(i H / Ho), ceil((i + 1) H / Ho)) per axis;
    output_size (1, 1) is global average pooling."""
    x = as_device(x, name="x")
    y = empty((*x.shape[:2], *output_size), x.dtype)
    if y.size:
        _adaptive_pool[grid_1d(y.size)](x, False, y, empty((1, 1, 1, 1), np.int64))
    return y


def adaptive_avg_pool2d_backward(gy, x_shape):
    """gx (x_shape): each output gradient divided by its window's area, added to the window."""
    gy = as_device(gy, name="grad_output")
    gx = fill(empty(x_shape, gy.dtype), 0)
    if gy.size:
        _adaptive_avg_backward[grid_1d(gy.size)](gy, gx)
    return gx


def adaptive_max_pool2d_forward(x, output_size):
    """(y, indices) over the adaptive windows (ties and NaNs as max_pool2d)."""
    x = as_device(x, name="x")
    y = empty((*x.shape[:2], *output_size), x.dtype)
    idx = empty(y.shape, np.int64)
    if y.size:
        _adaptive_pool[grid_1d(y.size)](x, True, y, idx)
    return y, idx
