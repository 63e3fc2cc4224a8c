"""2-D pooling on the CPU: direct Numba loops, one (n, c) plane per parallel task.

Why direct loops: a pooling window touches each input pixel a few times and does no arithmetic worth
a matrix product, so one pass over the input that keeps each plane in cache is as fast as it gets;
an im2col copy would only add memory traffic. The loops run tap by tap over a whole output row
(``for ow``) instead of window by window, so the innermost loop is long and branch-free and Numba
vectorizes it. Each tap only visits the outputs whose window it hits inside the input, which is
exactly what padding means for max pooling (padding acts as -inf: it is never the max) and for
average pooling (padding adds 0; whether it counts in the divisor follows PyTorch).

Max pooling returns the max and its position (flat index h * W + w in the input plane, int64, as
PyTorch). A tie goes to the FIRST maximum in row-major window order (smallest i, then smallest j):
taps are visited in that order and only a strictly larger value replaces the max. A NaN in the
window wins (the first NaN), so NaNs propagate. The backward pass adds each output gradient to that
one position. (A dilated window that sees only padding gives -inf and index -1.)

Indices into a plane are uint64 (``u``) so Numba skips its negative-index wrap-around test. Each
kernel body is compiled as a threaded and a serial twin (see threads.py).
Arguments: x (N, C, H, W) float32 or float64; kernel, stride, padding, dilation are (h, w) pairs;
shapes and ``padding <= kernel // 2`` are assumed checked by the caller (minicnn.functional).
"""
import numpy as np
from numba import njit, prange
from numba import uint64 as u

from ..shape_rules import adaptive_window, pool_output_size
from .threads import pick

_adaptive_window = njit(cache=True, inline="always")(adaptive_window)


@njit(cache=True, inline="always")
def _valid_range(offset, stride, size, n_out):
    """[lo, hi): the output positions o with 0 <= o * stride + offset < size (one tap of a row)."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = (size - 1 - offset) // stride + 1 if size - 1 - offset >= 0 else 0
    return min(lo, n_out), max(min(hi, n_out), min(lo, n_out))


@njit(cache=True)
def _taps(n_out, k, s, p, d, size):
    """(lo, hi) arrays: output o's window taps t with 0 <= o*s - p + t*d < size are lo[o] <= t < hi[o]."""
    lo = np.empty(n_out, np.int64)
    hi = np.empty(n_out, np.int64)
    for o in range(n_out):
        start = o * s - p
        lo[o] = 0 if start >= 0 else (-start + d - 1) // d
        hi[o] = min(k, (size - 1 - start) // d + 1)
    return lo, hi


@njit(cache=True)
def _tap_outputs(n_out, k, s, p, d, size):
    """(lo, hi) arrays: tap t of a row's windows lands inside the input (0 <= o*s - p + t*d < size)
    exactly for the outputs lo[t] <= o < hi[t]. Worked out once per call: the divisions in it cost
    more than the tap's loop over a short output row."""
    lo = np.empty(k, np.int64)
    hi = np.empty(k, np.int64)
    for t in range(k):
        lo[t], hi[t] = _valid_range(t * d - p, s, size, n_out)
    return lo, hi


@njit(cache=True, inline="always")
def _max_tap(src, first, step, lo, hi, out, arg, row_out):
    """One tap over an output row: out[ow], arg[ow] take src[first + ow * step] where it is larger
    (or the first seen, or the first NaN). Branch-free, so it vectorizes."""
    for ow in range(lo, hi):
        at, o = first + ow * step, row_out + u(ow)
        v, best, where = src[u(at)], out[o], arg[o]
        take = (v > best) | (where < 0) | ((v != v) & (best == best))
        out[o] = v if take else best
        arg[o] = at if take else where


@njit(cache=True, inline="always")
def _max_pool_body(x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx):
    n_img, c_in, h, w = x.shape
    ho, wo = y.shape[2:]
    i_lo, i_hi = _taps(ho, kh, sh, ph, dh, h)
    j_lo, j_hi = _tap_outputs(wo, kw, sw, pw, dw, w)
    for p in prange(n_img * c_in):
        n, c = p // c_in, p % c_in
        src, out, arg = x[n, c].reshape(-1), y[n, c].reshape(-1), idx[n, c].reshape(-1)
        for oh in range(ho):
            row_out = u(oh * wo)
            for ow in range(wo):
                out[row_out + u(ow)] = -np.inf
                arg[row_out + u(ow)] = -1             # -1: no tap seen yet
            for i in range(i_lo[oh], i_hi[oh]):
                row_in = (oh * sh - ph + i * dh) * w
                for j in range(kw):
                    lo, hi = j_lo[j], j_hi[j]
                    first = row_in + j * dw - pw
                    if sw == 2:                       # a constant stride lets LLVM vectorize the loads
                        _max_tap(src, first, 2, lo, hi, out, arg, row_out)
                    elif sw == 1:
                        _max_tap(src, first, 1, lo, hi, out, arg, row_out)
                    else:
                        _max_tap(src, first, sw, lo, hi, out, arg, row_out)


@njit(parallel=True, cache=True)
def _max_pool_threads(x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx):
    _max_pool_body(x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx)


@njit(cache=True)
def _max_pool_serial(x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx):
    _max_pool_body(x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx)


@njit(cache=True, inline="always")
def _scatter_by_index_body(gy, idx, gx):
    """gx[p, idx[p, k]] += gy[p, k] for each plane p (gx and gy flattened per plane)."""
    for p in prange(gx.shape[0]):
        plane, grads, where = gx[p], gy[p], idx[p]
        plane[:] = 0
        for k in range(grads.size):
            if where[u(k)] >= 0:                  # -1: a window with no input pixel
                plane[u(where[u(k)])] += grads[u(k)]


@njit(parallel=True, cache=True)
def _scatter_by_index_threads(gy, idx, gx):
    _scatter_by_index_body(gy, idx, gx)


@njit(cache=True)
def _scatter_by_index_serial(gy, idx, gx):
    _scatter_by_index_body(gy, idx, gx)


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """(y (N, C, Ho, Wo), indices (N, C, Ho, Wo) int64): window maxima and their flat positions."""
    x = np.ascontiguousarray(x)
    out_hw = pool_output_size(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    y = np.empty((*x.shape[:2], *out_hw), x.dtype)
    idx = np.empty(y.shape, np.int64)
    pick(_max_pool_threads, _max_pool_serial, x.size)(x, *kernel, *stride, *padding, *dilation, y, idx)
    return y, idx


def max_pool2d_backward(gy, indices, x_shape):
    """gx (x_shape): each output gradient added to the input position its index names.
    Serves adaptive_max_pool2d too."""
    n, c, h, w = x_shape
    gy = np.ascontiguousarray(gy)
    gx = np.empty((n * c, h * w), gy.dtype)
    scatter = pick(_scatter_by_index_threads, _scatter_by_index_serial, gx.size)
    scatter(gy.reshape(n * c, -1), np.ascontiguousarray(indices).reshape(n * c, -1), gx)
    return gx.reshape(x_shape)


adaptive_max_pool2d_backward = max_pool2d_backward


@njit(cache=True)
def _avg_divisors(ho, wo, kh, kw, sh, sw, ph, pw, h, w, count_include_pad, divisor):
    """(Ho, Wo) divisors of the average windows, PyTorch's rule: the window clipped to the padded
    input (count_include_pad) or to the input itself, or ``divisor`` when it is > 0."""
    div = np.empty((ho, wo))
    for oh in range(ho):
        for ow in range(wo):
            size = 1
            for o, k, s, p, n in ((oh, kh, sh, ph, h), (ow, kw, sw, pw, w)):
                start = o * s - p
                end = min(start + k, n + p)
                if not count_include_pad:
                    start, end = max(start, 0), min(end, n)
                size *= end - start
            div[oh, ow] = divisor if divisor > 0 else size
    return div


@njit(cache=True, inline="always")
def _avg_pool_body(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, y):
    n_img, c_in, h, w = x.shape
    ho, wo = y.shape[2:]
    i_lo, i_hi = _taps(ho, kh, sh, ph, 1, h)
    j_lo, j_hi = _tap_outputs(wo, kw, sw, pw, 1, w)
    div = _avg_divisors(ho, wo, kh, kw, sh, sw, ph, pw, h, w, count_include_pad, divisor)
    for p in prange(n_img * c_in):
        n, c = p // c_in, p % c_in
        src, out = x[n, c].reshape(-1), y[n, c].reshape(-1)
        total = np.zeros(wo)                          # float64 sums of one output row
        for oh in range(ho):
            total[:] = 0
            for i in range(i_lo[oh], i_hi[oh]):
                row_in = (oh * sh - ph + i) * w
                for j in range(kw):
                    lo, hi = j_lo[j], j_hi[j]
                    first = row_in + j - pw
                    for ow in range(lo, hi):
                        total[u(ow)] += src[u(first + ow * sw)]
            for ow in range(wo):
                out[u(oh * wo + ow)] = total[u(ow)] / div[oh, ow]


@njit(parallel=True, cache=True)
def _avg_pool_threads(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, y):
    _avg_pool_body(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, y)


@njit(cache=True)
def _avg_pool_serial(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, y):
    _avg_pool_body(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, y)


@njit(cache=True, inline="always")
def _avg_pool_backward_body(gy, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx):
    n_img, c_in, h, w = gx.shape
    ho, wo = gy.shape[2:]
    i_lo, i_hi = _taps(ho, kh, sh, ph, 1, h)
    j_lo, j_hi = _tap_outputs(wo, kw, sw, pw, 1, w)
    div = _avg_divisors(ho, wo, kh, kw, sh, sw, ph, pw, h, w, count_include_pad, divisor)
    for p in prange(n_img * c_in):
        n, c = p // c_in, p % c_in
        grads, plane = gy[n, c].reshape(-1), gx[n, c].reshape(-1)
        plane[:] = 0
        share = np.empty(wo, gx.dtype)               # each output's gradient over its divisor
        for oh in range(ho):
            for ow in range(wo):
                share[u(ow)] = grads[u(oh * wo + ow)] / div[oh, ow]
            for i in range(i_lo[oh], i_hi[oh]):
                row_in = (oh * sh - ph + i) * w
                for j in range(kw):
                    lo, hi = j_lo[j], j_hi[j]
                    first = row_in + j - pw
                    for ow in range(lo, hi):
                        plane[u(first + ow * sw)] += share[u(ow)]


@njit(parallel=True, cache=True)
def _avg_pool_backward_threads(gy, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx):
    _avg_pool_backward_body(gy, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx)


@njit(cache=True)
def _avg_pool_backward_serial(gy, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx):
    _avg_pool_backward_body(gy, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx)


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override=None):
    """y (N, C, Ho, Wo): window means. The divisor is the window size clipped to the padded input
    (count_include_pad) or to the input, or ``divisor_override`` when given (PyTorch's rules)."""
    x = np.ascontiguousarray(x)
    out_hw = pool_output_size(x.shape[2:], kernel, stride, padding, 1, ceil_mode)
    y = np.empty((*x.shape[:2], *out_hw), x.dtype)
    pick(_avg_pool_threads, _avg_pool_serial, x.size)(x, *kernel, *stride, *padding, bool(count_include_pad),
                                                      int(divisor_override or 0), y)
    return y


def avg_pool2d_backward(gy, x_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                        divisor_override=None):
    """gx (x_shape): each output gradient divided by its divisor, added to its whole window."""
    gy = np.ascontiguousarray(gy)
    gx = np.empty(x_shape, gy.dtype)
    backward = pick(_avg_pool_backward_threads, _avg_pool_backward_serial, gx.size)
    backward(gy, *kernel, *stride, *padding, bool(count_include_pad), int(divisor_override or 0), gx)
    return gx


@njit(cache=True, inline="always")
def _adaptive_pool_body(x, is_max, y, idx):
    n_img, c_in, h, w = x.shape
    ho, wo = y.shape[2:]
    for p in prange(n_img * c_in):
        n, c = p // c_in, p % c_in
        src = x[n, c].reshape(-1)
        for oh in range(ho):
            h0, h1 = _adaptive_window(oh, h, ho)
            for ow in range(wo):
                w0, w1 = _adaptive_window(ow, w, wo)
                if is_max:
                    where = h0 * w + w0
                    best = src[u(where)]
                    for hh in range(h0, h1):
                        for ww in range(w0, w1):
                            v = src[u(hh * w + ww)]
                            if v > best or (v != v and best == best):
                                best, where = v, hh * w + ww
                    y[n, c, oh, ow] = best
                    idx[n, c, oh, ow] = where
                else:
                    total = 0.0
                    for hh in range(h0, h1):
                        for ww in range(w0, w1):
                            total += src[u(hh * w + ww)]
                    y[n, c, oh, ow] = total / ((h1 - h0) * (w1 - w0))


@njit(parallel=True, cache=True)
def _adaptive_pool_threads(x, is_max, y, idx):
    _adaptive_pool_body(x, is_max, y, idx)


@njit(cache=True)
def _adaptive_pool_serial(x, is_max, y, idx):
    _adaptive_pool_body(x, is_max, y, idx)


@njit(cache=True, inline="always")
def _adaptive_avg_backward_body(gy, gx):
    n_img, c_in, h, w = gx.shape
    ho, wo = gy.shape[2:]
    for p in prange(n_img * c_in):
        n, c = p // c_in, p % c_in
        plane = gx[n, c].reshape(-1)
        plane[:] = 0
        for oh in range(ho):
            h0, h1 = _adaptive_window(oh, h, ho)
            for ow in range(wo):
                w0, w1 = _adaptive_window(ow, w, wo)
                g = gy[n, c, oh, ow] / ((h1 - h0) * (w1 - w0))
                for hh in range(h0, h1):
                    for ww in range(w0, w1):
                        plane[u(hh * w + ww)] += g


@njit(parallel=True, cache=True)
def _adaptive_avg_backward_threads(gy, gx):
    _adaptive_avg_backward_body(gy, gx)


@njit(cache=True)
def _adaptive_avg_backward_serial(gy, gx):
    _adaptive_avg_backward_body(gy, gx)


def adaptive_avg_pool2d_forward(x, output_size):
    """y (N, C, *output_size): means over windows [floor(i H / Ho), ceil((i + 1) H / Ho)) per axis;
    output_size (1, 1) is global average pooling."""
    x = np.ascontiguousarray(x)
    y = np.empty((*x.shape[:2], *output_size), x.dtype)
    pick(_adaptive_pool_threads, _adaptive_pool_serial, x.size)(x, False, y, np.empty((1, 1, 1, 1), np.int64))
    return y


def adaptive_avg_pool2d_backward(gy, x_shape):
    """gx (x_shape): each output gradient divided by its window's area, added to the window."""
    gy = np.ascontiguousarray(gy)
    gx = np.empty(x_shape, gy.dtype)
    pick(_adaptive_avg_backward_threads, _adaptive_avg_backward_serial, gx.size)(gy, gx)
    return gx


def adaptive_max_pool2d_forward(x, output_size):
    """(y, indices) over the adaptive windows (ties and NaNs as max_pool2d)."""
    x = np.ascontiguousarray(x)
    y = np.empty((*x.shape[:2], *output_size), x.dtype)
    idx = np.empty(y.shape, np.int64)
    pick(_adaptive_pool_threads, _adaptive_pool_serial, x.size)(x, True, y, idx)
    return y, idx
