"""2-D pooling on the CPU: direct Numba loops, one (n, c) plane per parallel task.

Why direct loops: a pooling window touches each input pixel a few times and does no arithmetic worth
a matrix product, so one pass over the input that keeps each plane in cache is as fast as it gets;
an im2col copy would only add memory traffic. Each loop visits only the in-bounds part of a window,
which is exactly what padding means for max pooling (padding acts as -inf: it is never the max) and
for average pooling (padding adds 0; whether it counts in the divisor follows PyTorch).

Max pooling returns the max and its position (flat index h * W + w in the input plane, int64, as
PyTorch). A tie goes to the FIRST maximum in row-major window order (smallest i, then smallest j);
a NaN in the window wins (the first NaN), so NaNs propagate. The backward pass adds each output
gradient to that one position. (A dilated window that sees only padding gives -inf and index -1.)

Arguments: x (N, C, H, W) float32 or float64; kernel, stride, padding, dilation are (h, w) pairs;
shapes and ``padding <= kernel // 2`` are assumed checked by the caller (minicnn.functional).
"""
import numpy as np
from numba import njit, prange

from ..shape_rules import adaptive_window, pool_output_size

_adaptive_window = njit(cache=True, inline="always")(adaptive_window)


@njit(cache=True, inline="always")
def _taps(start, step, size, k):
    """[lo, hi): the window taps t (start + t * step) that fall inside [0, size)."""
    lo = 0 if start >= 0 else (-start + step - 1) // step
    hi = min(k, (size - 1 - start) // step + 1)
    return lo, hi


@njit(parallel=True, cache=True)
def _max_pool(x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx):
    n_img, c_in, h, w = x.shape
    ho, wo = y.shape[2:]
    for p in prange(n_img * c_in):
        n = p // c_in
        c = p % c_in
        for oh in range(ho):
            h0 = oh * sh - ph
            i_lo, i_hi = _taps(h0, dh, h, kh)
            for ow in range(wo):
                w0 = ow * sw - pw
                j_lo, j_hi = _taps(w0, dw, w, kw)
                if i_lo >= i_hi or j_lo >= j_hi:  # a dilated window that only sees padding
                    y[n, c, oh, ow] = -np.inf
                    idx[n, c, oh, ow] = -1
                    continue
                hh = h0 + i_lo * dh
                ww = w0 + j_lo * dw
                best = x[n, c, hh, ww]
                where = hh * w + ww
                for i in range(i_lo, i_hi):
                    hh = h0 + i * dh
                    for j in range(j_lo, j_hi):
                        v = x[n, c, hh, w0 + j * dw]
                        if v > best or (v != v and best == best):
                            best = v
                            where = hh * w + w0 + j * dw
                y[n, c, oh, ow] = best
                idx[n, c, oh, ow] = where


@njit(parallel=True, cache=True)
def _scatter_by_index(gy, idx, gx):
    """gx[p, idx[p, k]] += gy[p, k] for each plane p (gx and gy flattened per plane)."""
    for p in prange(gx.shape[0]):
        gx[p] = 0
        for k in range(gy.shape[1]):
            if idx[p, k] >= 0:                    # -1: a window with no input pixel
                gx[p, idx[p, k]] += gy[p, k]


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """(y (N, C, Ho, Wo), indices (N, C, Ho, Wo) int64): window maxima and their flat positions."""
    x = np.ascontiguousarray(x)
    out_hw = pool_output_size(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    y = np.empty((*x.shape[:2], *out_hw), x.dtype)
    idx = np.empty(y.shape, np.int64)
    _max_pool(x, *kernel, *stride, *padding, *dilation, y, idx)
    return y, idx


def max_pool2d_backward(gy, indices, x_shape):
    """gx (x_shape): each output gradient added to the input position its index names.
    Serves adaptive_max_pool2d too."""
    n, c, h, w = x_shape
    gy = np.ascontiguousarray(gy)
    gx = np.empty((n * c, h * w), gy.dtype)
    _scatter_by_index(gy.reshape(n * c, -1), np.ascontiguousarray(indices).reshape(n * c, -1), gx)
    return gx.reshape(x_shape)


adaptive_max_pool2d_backward = max_pool2d_backward


@njit(cache=True, inline="always")
def _avg_window(o, k, s, p, size, count_include_pad):
    """(start, end, count) of one axis of an average window, with PyTorch's divisor rule."""
    start = o * s - p
    end = min(start + k, size + p)
    count = end - start                           # padding included (clipped to the padded input)
    start = max(start, 0)
    end = min(end, size)
    if not count_include_pad:
        count = end - start
    return start, end, count


@njit(parallel=True, cache=True)
def _avg_pool(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, y):
    n_img, c_in, h, w = x.shape
    ho, wo = y.shape[2:]
    for p in prange(n_img * c_in):
        n = p // c_in
        c = p % c_in
        for oh in range(ho):
            h0, h1, ch = _avg_window(oh, kh, sh, ph, h, count_include_pad)
            for ow in range(wo):
                w0, w1, cw = _avg_window(ow, kw, sw, pw, w, count_include_pad)
                total = 0.0
                for hh in range(h0, h1):
                    for ww in range(w0, w1):
                        total += x[n, c, hh, ww]
                y[n, c, oh, ow] = total / (divisor if divisor > 0 else ch * cw)


@njit(parallel=True, cache=True)
def _avg_pool_backward(gy, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx):
    n_img, c_in, h, w = gx.shape
    ho, wo = gy.shape[2:]
    for p in prange(n_img * c_in):
        n = p // c_in
        c = p % c_in
        gx[n, c] = 0
        for oh in range(ho):
            h0, h1, ch = _avg_window(oh, kh, sh, ph, h, count_include_pad)
            for ow in range(wo):
                w0, w1, cw = _avg_window(ow, kw, sw, pw, w, count_include_pad)
                g = gy[n, c, oh, ow] / (divisor if divisor > 0 else ch * cw)
                for hh in range(h0, h1):
                    for ww in range(w0, w1):
                        gx[n, c, hh, ww] += g


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override=None):
    """y (N, C, Ho, Wo): window means. The divisor is the window size clipped to the padded input
    (count_include_pad) or to the input, or ``divisor_override`` when given (PyTorch's rules)."""
    x = np.ascontiguousarray(x)
    out_hw = pool_output_size(x.shape[2:], kernel, stride, padding, 1, ceil_mode)
    y = np.empty((*x.shape[:2], *out_hw), x.dtype)
    _avg_pool(x, *kernel, *stride, *padding, bool(count_include_pad), int(divisor_override or 0), y)
    return y


def avg_pool2d_backward(gy, x_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                        divisor_override=None):
    """gx (x_shape): each output gradient divided by its divisor, added to its whole window."""
    gy = np.ascontiguousarray(gy)
    gx = np.empty(x_shape, gy.dtype)
    _avg_pool_backward(gy, *kernel, *stride, *padding, bool(count_include_pad),
                       int(divisor_override or 0), gx)
    return gx


@njit(parallel=True, cache=True)
def _adaptive_pool(x, is_max, y, idx):
    n_img, c_in, h, w = x.shape
    ho, wo = y.shape[2:]
    for p in prange(n_img * c_in):
        n = p // c_in
        c = p % c_in
        for oh in range(ho):
            h0, h1 = _adaptive_window(oh, h, ho)
            for ow in range(wo):
                w0, w1 = _adaptive_window(ow, w, wo)
                if is_max:
                    best = x[n, c, h0, w0]
                    where = h0 * w + w0
                    for hh in range(h0, h1):
                        for ww in range(w0, w1):
                            v = x[n, c, hh, ww]
                            if v > best or (v != v and best == best):
                                best = v
                                where = hh * w + ww
                    y[n, c, oh, ow] = best
                    idx[n, c, oh, ow] = where
                else:
                    total = 0.0
                    for hh in range(h0, h1):
                        for ww in range(w0, w1):
                            total += x[n, c, hh, ww]
                    y[n, c, oh, ow] = total / ((h1 - h0) * (w1 - w0))


@njit(parallel=True, cache=True)
def _adaptive_avg_backward(gy, gx):
    n_img, c_in, h, w = gx.shape
    ho, wo = gy.shape[2:]
    for p in prange(n_img * c_in):
        n = p // c_in
        c = p % c_in
        gx[n, c] = 0
        for oh in range(ho):
            h0, h1 = _adaptive_window(oh, h, ho)
            for ow in range(wo):
                w0, w1 = _adaptive_window(ow, w, wo)
                g = gy[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
                for hh in range(h0, h1):
                    for ww in range(w0, w1):
                        gx[n, c, hh, ww] += g


def adaptive_avg_pool2d_forward(x, output_size):
    """y (N, C, *output_size): means over windows [floor(i H / Ho), ceil((i + 1) H / Ho)) per axis;
    output_size (1, 1) is global average pooling."""
    x = np.ascontiguousarray(x)
    y = np.empty((*x.shape[:2], *output_size), x.dtype)
    _adaptive_pool(x, False, y, np.empty((1, 1, 1, 1), np.int64))
    return y


def adaptive_avg_pool2d_backward(gy, x_shape):
    """gx (x_shape): each output gradient divided by its window's area, added to the window."""
    gy = np.ascontiguousarray(gy)
    gx = np.empty(x_shape, gy.dtype)
    _adaptive_avg_backward(gy, gx)
    return gx


def adaptive_max_pool2d_forward(x, output_size):
    """(y, indices) over the adaptive windows (ties and NaNs as max_pool2d)."""
    x = np.ascontiguousarray(x)
    y = np.empty((*x.shape[:2], *output_size), x.dtype)
    idx = np.empty(y.shape, np.int64)
    _adaptive_pool(x, True, y, idx)
    return y, idx
