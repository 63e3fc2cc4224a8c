"""2-D pooling on the CPU: direct Numba loops, the batch split into chunks of images over the threads.

Why direct loops: a pooling window touches each input pixel a few times and does no arithmetic worth
a matrix product, so one pass over the input that keeps each plane in cache is as fast as it gets;
an im2col copy would only add memory traffic. Each tap only visits the outputs whose window it hits
inside the input, which is exactly what padding means for max pooling (padding acts as -inf: it is
never the max) and for average pooling (padding adds 0; whether it counts in the divisor follows
PyTorch).

Max pooling is separable, and runs as two passes over each plane, both kept in L1 by a small
scratch: a vertical pass takes, for every output row and input column, the max over the window's
rows (``_column_maxima``: its inner loop runs along a whole input row), then a horizontal pass takes
the max of those over the window's columns (``_row_maxima``). When the windows tile each row
exactly (no column padding, W = Wo * sw, as for 2x2 stride-2 pooling of an even width), the
horizontal pass is one long loop over the plane's outputs (``_row_maxima_flat``). 2x2 stride-2 and
3x3 stride-1 or -2 windows over rows of any width, with padding or ceil_mode (ResNet's 3x3 stride-2
padding-1 pooling, AlexNet's 3x3 stride-2 pooling of 55 columns) take one long loop too, over
column maxima laid out max(Wo, ceil(W / sw)) * sw entries a row, then the outputs at the rows' ends
again, and drop the outputs past Wo (``_row_maxima_wrapped``). Output rows are often short (16
outputs for a 32-pixel image), and a loop that short never reaches LLVM's vectorized body; these
long loops do, which made the forward pass 4-6x faster than one tap at a time over each output row
(3x3 stride 2: 2.6-3.2x). Average pooling runs the same two passes with sums
(``_column_sums``, ``_row_means``), and its backward pass their adjoints in reverse order
(``_row_shares``, ``_column_shares``).

Max pooling returns the max and its position (flat index h * W + w in the input plane, int64, as
PyTorch). A tie goes to the FIRST maximum in row-major window order (smallest i, then smallest j):
the vertical pass keeps the first row of each column's max, and the horizontal pass takes an equal
value only from an earlier flat position (``_better``). A NaN in the window wins (the first NaN),
so NaNs propagate. A window of -inf values (real ones, not padding) names its first pixel, as
PyTorch does. The backward pass adds each output gradient to that one position. (A dilated window
that sees only padding gives -inf and index -1.)

Indices into a plane are uint64 (``u``) so Numba skips its negative-index wrap-around test. Each
kernel runs over chunks of images (chunks.py), in one compiled ``*_chunks`` loop per thread that
releases the GIL, on minicnn's own worker threads as the convolutions do; one chunk per thread,
since pooling keeps nothing per image that has to stay in cache. (With Numba's prange, whose
threads sleep between calls, max_pool2d's forward and backward took 4.6-5.0 ms on two threads in
benchmarks/, against 3.8-4.4 ms on one; through the chunks, 2.4-2.8 ms.)
Arguments: x (N, C, H, W) float32 or float64; kernel, stride, padding, dilation are (h, w) pairs;
shapes and ``padding <= kernel // 2`` are assumed checked by the caller (minicnn.functional).
"""
import math

import numpy as np
from numba import int32, njit
from numba import uint64 as u

from ..shape_rules import adaptive_window, pool_output_size
from .chunks import next_chunk, over_chunks

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
def _windows_tile_rows(w, wo, kw, sw, pw, dw):
    """True when every window lies inside its row and the rows hold exactly Wo * sw columns (no
    column padding, windows not wider than the stride): the horizontal passes are then one loop
    over a plane's outputs, tap j of output q at column q * sw + j * dw."""
    return pw == 0 and w == wo * sw and (kw - 1) * dw < sw


@njit(cache=True, inline="always")
def _better(v, at, best, where):
    """Whether value v at flat position ``at`` replaces (best, where) as a window's max: it is larger,
    or equal (or both NaN) and earlier in row-major order, or the first NaN, or the first seen
    (where < 0). Branch-free, so the loops calling it vectorize."""
    return ((v > best) | (where < 0) | ((v == best) & (at < where))
            | ((v != v) & ((best == best) | (at < where))))


@njit(cache=True, inline="always")
def _column_maxima(src, w, ho, sh, ph, dh, i_lo, i_hi, span, col_max, col_at):
    """Vertical pass over one plane (src flat, H * W): col_max[oh * span + x], col_at[...] = the max
    of column x < W over output row oh's window rows and its flat position (the first max, or first
    NaN); span >= W entries from one output row's maxima to the next (entries past W are not written).
    Rows whose window sees no input row give -inf and -1. The inner loops run along a whole input
    row, contiguous and long enough to vectorize. The window's first three rows go in one loop (for
    2x2 and 3x3 windows the only one): for 2x2 windows 0.87x the time of a copy of the first row,
    then a loop for the second; for 3x3, 0.9x that of a loop for two rows, then one for the third.

    Each row is done as its first W - W % 8 columns, then its last 8 again (``_row_pieces``; the
    passes give the same entries when done twice): LLVM's vectorized loop takes 32 columns a
    step and 8 in its epilogue, the rest one at a time, so for AlexNet's 55 columns 7 went
    scalar, which took as long as the other 48. With that and the positions in int32 (one vector
    of 8 instead of two of int64), 3x3 stride-2 windows over (1024, 55, 55) planes took 1.3 ms
    instead of 5.5, over 32 columns 0.55 ms instead of 1.2."""
    pieces = _row_pieces(w)
    for oh in range(ho):
        base = u(oh * span)
        lo, hi = i_lo[oh], i_hi[oh]
        if lo >= hi:
            for x in range(w):
                col_max[base + u(x)] = -np.inf
                col_at[base + u(x)] = -1
            continue
        row = int32((oh * sh - ph + lo * dh) * w)
        below, third = int32(row + dh * w), int32(row + 2 * dh * w)
        for x0, x1 in pieces:
            if hi - lo >= 3:
                _three_rows(src, row, below, third, x0, x1, base, col_max, col_at)
            elif hi - lo >= 2:
                _two_rows(src, row, below, x0, x1, base, col_max, col_at)
            else:
                _one_row(src, row, x0, x1, base, col_max, col_at)
        for i in range(lo + min(hi - lo, 3), hi):      # later rows win only if strictly larger
            later = int32((oh * sh - ph + i * dh) * w)
            for x0, x1 in pieces:
                _later_row(src, later, x0, x1, base, col_max, col_at)


@njit(cache=True, inline="always")
def _row_pieces(w):
    """((0, W - W % 8), (W - 8, W)): a row's columns as a multiple of 8 and, when W % 8 > 0, its last
    8 again (all of them when W < 8); the second piece empty otherwise."""
    whole = w - w % 8
    return (0, whole), ((max(0, w - 8), w) if whole < w else (w, w))


@njit(cache=True, inline="always")
def _three_rows(src, row, below, third, x0, x1, base, col_max, col_at):
    """Columns x0 <= x < x1: the max of rows ``row``, ``below``, ``third`` (flat offsets) and where."""
    for x in range(x0, x1):
        a, b, c = src[u(row + x)], src[u(below + x)], src[u(third + x)]
        take = (b > a) | ((b != b) & (a == a))
        best = b if take else a
        at = below if take else row
        take = (c > best) | ((c != c) & (best == best))
        col_max[base + u(x)] = c if take else best
        col_at[base + u(x)] = (third if take else at) + int32(x)


@njit(cache=True, inline="always")
def _two_rows(src, row, below, x0, x1, base, col_max, col_at):
    """Columns x0 <= x < x1: the max of rows ``row`` and ``below`` and where."""
    for x in range(x0, x1):
        a, b = src[u(row + x)], src[u(below + x)]
        take = (b > a) | ((b != b) & (a == a))
        col_max[base + u(x)] = b if take else a
        col_at[base + u(x)] = (below if take else row) + int32(x)


@njit(cache=True, inline="always")
def _one_row(src, row, x0, x1, base, col_max, col_at):
    """Columns x0 <= x < x1: row ``row`` itself."""
    for x in range(x0, x1):
        col_max[base + u(x)] = src[u(row + x)]
        col_at[base + u(x)] = row + int32(x)


@njit(cache=True, inline="always")
def _later_row(src, row, x0, x1, base, col_max, col_at):
    """Columns x0 <= x < x1: row ``row`` replaces the max so far where strictly larger (or the
    first NaN)."""
    for x in range(x0, x1):
        v, best = src[u(row + x)], col_max[base + u(x)]
        take = (v > best) | ((v != v) & (best == best))
        col_max[base + u(x)] = v if take else best
        col_at[base + u(x)] = row + int32(x) if take else col_at[base + u(x)]


@njit(cache=True, inline="always")
def _row_maxima_flat(col_max, col_at, start, stop, kw, sw, pw, dw, out, arg):
    """Horizontal pass as one long loop over outputs start <= q < stop, whose taps are columns
    q * sw + j * dw - pw of the (Ho * W) column maxima: all of a plane's outputs when the windows
    tile the rows (``_windows_tile_rows``, pw 0); the part of _row_maxima_wrapped's."""
    for q in range(start, stop):
        first = u(q * sw - pw)
        best, where = col_max[first], col_at[first]
        for j in range(1, kw):
            v, at = col_max[first + u(j * dw)], col_at[first + u(j * dw)]
            take = _better(v, at, best, where)
            best = v if take else best
            where = at if take else where
        out[u(q)] = best
        arg[u(q)] = where


@njit(cache=True, inline="always")
def _row_maxima(col_max, col_at, w, ho, wo, kw, sw, pw, dw, j_lo, j_hi, out, arg):
    """Horizontal pass, any padding: tap j of each output row over the outputs it lands on."""
    for q in range(ho * wo):
        out[u(q)] = -np.inf
        arg[u(q)] = -1
    for oh in range(ho):
        for j in range(kw):
            first = oh * w + j * dw - pw
            for ow in range(j_lo[j], j_hi[j]):
                at, o = u(first + ow * sw), u(oh * wo + ow)
                v, a, best, where = col_max[at], col_at[at], out[o], arg[o]
                take = _better(v, a, best, where)
                out[o] = v if take else best
                arg[o] = a if take else where


@njit(cache=True, inline="always")
def _row_maxima_wrapped(col_max, col_at, ho, wide, kw, sw, pw, dw, edges, t_lo, t_hi, out, arg):
    """Horizontal pass over column maxima laid out ``wide`` * sw entries a row (the vertical pass's
    span, >= W), for ``wide`` outputs a row (>= Wo; out and arg (Ho * wide) flat): one loop over the
    plane's outputs, tap j of output q at entry q * sw + j * dw - pw, as if the rows were one; the
    outputs whose window leaves its row (``edges``: ow with t_lo[ow] > 0 or t_hi[ow] < kw, from
    _taps: its taps inside the row) read a neighbour row's column there or an entry past W, and are
    done again with their own taps only; outputs ow >= Wo are left to be dropped. With constant
    taps and stride, the long loop vectorizes: (64, 32, 32, 32) 3x3 s2 p1 forward 2.6-3.2x faster
    than _row_maxima, 3x3 s1 p1 1.3-1.5x; over rows wider than Wo * sw, forward 0.35-0.38x
    _row_maxima's time for AlexNet's 3x3 stride-2 pooling of (64, 64, 55, 55) and (64, 192, 27, 27),
    0.44x for 2x2 stride 2 over 31 columns, 0.3x with padding 1."""
    span = wide * sw
    q_first = -(-pw // sw)                                            # tap 0 inside the plane
    q_last = min(ho * wide, (ho * span - 1 + pw - (kw - 1) * dw) // sw + 1)    # the last tap inside
    _row_maxima_flat(col_max, col_at, q_first, q_last, kw, sw, pw, dw, out, arg)
    for oh in range(ho):                          # windows that leave their row, again
        for e in range(edges.size):
            ow = edges[e]
            first = oh * span + ow * sw - pw
            best, where = -np.inf, -1
            for j in range(t_lo[ow], t_hi[ow]):
                v, at = col_max[u(first + j * dw)], col_at[u(first + j * dw)]
                take = _better(v, at, best, where)
                best = v if take else best
                where = at if take else where
            out[u(oh * wide + ow)] = best
            arg[u(oh * wide + ow)] = where


@njit(cache=True, inline="always")
def _edges(t_lo, t_hi, kw):
    """The outputs ow of a row whose window does not lie whole inside the row (padding, ceil_mode)."""
    inside = (t_lo == 0) & (t_hi == kw)
    return np.nonzero(~inside)[0]


@njit(cache=True, inline="always")
def _max_pool_body(x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx):
    n_img, c_in, h, w = x.shape
    ho, wo = y.shape[2:]
    planes = n_img * c_in
    xs, ys, ids = x.reshape(planes, h * w), y.reshape(planes, ho * wo), idx.reshape(planes, ho * wo)
    i_lo, i_hi = _taps(ho, kh, sh, ph, dh, h)
    j_lo, j_hi = _tap_outputs(wo, kw, sw, pw, dw, w)
    t_lo, t_hi = _taps(wo, kw, sw, pw, dw, w)
    edges = _edges(t_lo, t_hi, kw)
    flat = _windows_tile_rows(w, wo, kw, sw, pw, dw)
    # 2x2 stride-2 and 3x3 stride-1 or -2 windows: the wrapped pass, with its taps as constants
    wrapped = dw == 1 and ((kw == 2 and sw == 2) or (kw == 3 and sw <= 2))
    wide = max(wo, -(-w // sw)) if wrapped else wo          # outputs a row in that pass
    span = wide * sw if wrapped else w
    col_max = np.full(ho * span, -np.inf, x.dtype)
    col_at = np.full(ho * span, -1, np.int32)     # a plane's positions fit; half the traffic
    out, arg = np.empty(ho * wide, x.dtype), np.empty(ho * wide, np.int64)    # when wide > Wo
    for p in range(planes):
        _column_maxima(xs[p], w, ho, sh, ph, dh, i_lo, i_hi, span, col_max, col_at)
        if wide == wo:                            # the pass writes the plane's outputs itself
            out, arg = ys[p], ids[p]
        if flat and kw == 2 and sw == 2:          # constants let LLVM unroll the taps
            _row_maxima_flat(col_max, col_at, 0, ho * wo, 2, 2, 0, 1, out, arg)
        elif wrapped and kw == 2:
            _row_maxima_wrapped(col_max, col_at, ho, wide, 2, 2, pw, 1, edges, t_lo, t_hi, out, arg)
        elif wrapped and sw == 2:
            _row_maxima_wrapped(col_max, col_at, ho, wide, 3, 2, pw, 1, edges, t_lo, t_hi, out, arg)
        elif wrapped:                             # 3x3, stride 1 (as variables: 2.6x slower)
            _row_maxima_wrapped(col_max, col_at, ho, wide, 3, 1, pw, 1, edges, t_lo, t_hi, out, arg)
        elif flat:
            _row_maxima_flat(col_max, col_at, 0, ho * wo, kw, sw, 0, dw, ys[p], ids[p])
        else:
            _row_maxima(col_max, col_at, w, ho, wo, kw, sw, pw, dw, j_lo, j_hi, ys[p], ids[p])
        if wide > wo:                             # drop each row's outputs past Wo
            for oh in range(ho):
                ys[p, oh * wo:(oh + 1) * wo] = out[oh * wide:oh * wide + wo]
                ids[p, oh * wo:(oh + 1) * wo] = arg[oh * wide:oh * wide + wo]


@njit(cache=True, inline="always")
def _scatter_by_index_body(gy, idx, gx):
    """gx[p, idx[p, k]] += gy[p, k] for each plane p (gx and gy flattened per plane)."""
    for p in range(gx.shape[0]):
        plane, grads, where = gx[p], gy[p], idx[p]
        plane[:] = 0
        for k in range(grads.size):
            if where[u(k)] >= 0:                  # -1: a window with no input pixel
                plane[u(where[u(k)])] += grads[u(k)]


@njit(cache=True, nogil=True)
def _max_pool_chunks(plan, go, x, kh, kw, sh, sw, ph, pw, dh, dw, y, idx):
    index, a, b = next_chunk(plan, go, -1)
    while index >= 0:
        _max_pool_body(x[a:b], kh, kw, sh, sw, ph, pw, dh, dw, y[a:b], idx[a:b])
        index, a, b = next_chunk(plan, go, index)


@njit(cache=True, nogil=True)
def _scatter_chunks(plan, go, gy, idx, gx):
    """gy, idx, gx: (N, C, plane) arrays, scattered as (n*C, plane) planes a chunk at a time."""
    index, a, b = next_chunk(plan, go, -1)
    while index >= 0:
        planes = (b - a) * gx.shape[1]
        _scatter_by_index_body(gy[a:b].reshape(planes, -1), idx[a:b].reshape(planes, -1),
                               gx[a:b].reshape(planes, -1))
        index, a, b = next_chunk(plan, go, index)


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """(y (N, C, Ho, Wo), indices (N, C, Ho, Wo) int64): window maxima and their flat positions."""
    x = np.ascontiguousarray(x)
    out_hw = pool_output_size(x.shape[2:], kernel, stride, padding, dilation, ceil_mode)
    y = np.empty((*x.shape[:2], *out_hw), x.dtype)
    idx = np.empty(y.shape, np.int64)

    def work(plan, go, images):
        _max_pool_chunks(plan, go, x, *kernel, *stride, *padding, *dilation, y, idx)

    over_chunks(work, x.shape[0], 0, x.itemsize, math.prod(x.shape[1:]))
    return y, idx


def max_pool2d_backward(gy, indices, x_shape):
    """gx (x_shape): each output gradient added to the input position its index names.
    Serves adaptive_max_pool2d too."""
    n, c, h, w = x_shape
    gy = np.ascontiguousarray(gy).reshape(n, c, gy.shape[2] * gy.shape[3])
    indices = np.ascontiguousarray(indices).reshape(gy.shape)
    gx = np.empty((n, c, h * w), gy.dtype)

    def work(plan, go, images):
        _scatter_chunks(plan, go, gy, indices, gx)

    over_chunks(work, n, 0, gy.itemsize, c * h * w)
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
def _column_sums(src, w, ho, sh, ph, i_lo, i_hi, col_sum):
    """Vertical pass of average pooling over one plane (src flat, H * W): col_sum[oh * W + x]
    (float64) = the sum of column x over output row oh's window rows inside the input."""
    for oh in range(ho):
        base = u(oh * w)
        for x in range(w):
            col_sum[base + u(x)] = 0
        for i in range(i_lo[oh], i_hi[oh]):
            row = (oh * sh - ph + i) * w
            for x in range(w):
                col_sum[base + u(x)] += src[u(row + x)]


@njit(cache=True, inline="always")
def _row_means_flat(col_sum, n_out, kw, sw, inv_div, out):
    """Horizontal pass when the windows tile the rows (``_windows_tile_rows``): output q is the sum
    of columns q * sw + j, times 1 / its divisor."""
    for q in range(n_out):
        total = col_sum[u(q * sw)]
        for j in range(1, kw):
            total += col_sum[u(q * sw + j)]
        out[u(q)] = total * inv_div[u(q)]


@njit(cache=True, inline="always")
def _row_means(col_sum, w, ho, wo, kw, sw, pw, j_lo, j_hi, inv_div, total, out):
    """Horizontal pass, any padding: tap j of each output row over the outputs it lands on, then
    each sum (float64 ``total``, Ho * Wo) times 1 / its divisor."""
    total[:] = 0
    for oh in range(ho):
        for j in range(kw):
            first = oh * w + j - pw
            for ow in range(j_lo[j], j_hi[j]):
                total[u(oh * wo + ow)] += col_sum[u(first + ow * sw)]
    for q in range(ho * wo):
        out[u(q)] = total[u(q)] * inv_div[u(q)]


@njit(cache=True, inline="always")
def _avg_pool_body(x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, y):
    n_img, c_in, h, w = x.shape
    ho, wo = y.shape[2:]
    planes = n_img * c_in
    xs, ys = x.reshape(planes, h * w), y.reshape(planes, ho * wo)
    i_lo, i_hi = _taps(ho, kh, sh, ph, 1, h)
    j_lo, j_hi = _tap_outputs(wo, kw, sw, pw, 1, w)
    inv_div = 1 / _avg_divisors(ho, wo, kh, kw, sh, sw, ph, pw, h, w, count_include_pad, divisor).reshape(-1)
    flat = _windows_tile_rows(w, wo, kw, sw, pw, 1)
    col_sum = np.empty(ho * w)
    total = np.empty(ho * wo)
    for p in range(planes):
        _column_sums(xs[p], w, ho, sh, ph, i_lo, i_hi, col_sum)
        if flat and kw == 2 and sw == 2:          # constants let LLVM unroll the taps (2x2, s2)
            _row_means_flat(col_sum, ho * wo, 2, 2, inv_div, ys[p])
        elif flat:
            _row_means_flat(col_sum, ho * wo, kw, sw, inv_div, ys[p])
        else:
            _row_means(col_sum, w, ho, wo, kw, sw, pw, j_lo, j_hi, inv_div, total, ys[p])


@njit(cache=True, inline="always")
def _row_shares_flat(share, n_out, kw, sw, col_share):
    """The adjoint of _row_means_flat: each column a window covers gets its output's share (the
    windows do not overlap), the others 0."""
    for k in range(n_out * sw):
        col_share[u(k)] = 0
    for j in range(kw):
        for q in range(n_out):
            col_share[u(q * sw + j)] = share[u(q)]


@njit(cache=True, inline="always")
def _row_shares(share, w, ho, wo, kw, sw, pw, j_lo, j_hi, col_share):
    """The adjoint of _row_means: each output's share added to every column of its window."""
    col_share[:] = 0
    for oh in range(ho):
        for j in range(kw):
            first = oh * w + j - pw
            for ow in range(j_lo[j], j_hi[j]):
                col_share[u(first + ow * sw)] += share[u(oh * wo + ow)]


@njit(cache=True, inline="always")
def _column_shares(col_share, w, ho, sh, ph, i_lo, i_hi, plane):
    """The adjoint of _column_sums: plane (H * W) = each output row's column shares added to every
    input row of its windows."""
    plane[:] = 0
    for oh in range(ho):
        base = u(oh * w)
        for i in range(i_lo[oh], i_hi[oh]):
            row = (oh * sh - ph + i) * w
            for x in range(w):
                plane[u(row + x)] += col_share[base + u(x)]


@njit(cache=True, inline="always")
def _avg_pool_backward_body(gy, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx):
    n_img, c_in, h, w = gx.shape
    ho, wo = gy.shape[2:]
    planes = n_img * c_in
    gys, gxs = gy.reshape(planes, ho * wo), gx.reshape(planes, h * w)
    i_lo, i_hi = _taps(ho, kh, sh, ph, 1, h)
    j_lo, j_hi = _tap_outputs(wo, kw, sw, pw, 1, w)
    inv_div = 1 / _avg_divisors(ho, wo, kh, kw, sh, sw, ph, pw, h, w, count_include_pad, divisor).reshape(-1)
    flat = _windows_tile_rows(w, wo, kw, sw, pw, 1)
    share = np.empty(ho * wo, gx.dtype)          # each output's gradient over its divisor
    col_share = np.empty(ho * w, gx.dtype)
    for p in range(planes):
        grads = gys[p]
        for q in range(ho * wo):
            share[u(q)] = grads[u(q)] * inv_div[u(q)]
        if flat:
            _row_shares_flat(share, ho * wo, kw, sw, col_share)
        else:
            _row_shares(share, w, ho, wo, kw, sw, pw, j_lo, j_hi, col_share)
        _column_shares(col_share, w, ho, sh, ph, i_lo, i_hi, gxs[p])


@njit(cache=True, nogil=True)
def _avg_pool_chunks(plan, go, x, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, y):
    index, a, b = next_chunk(plan, go, -1)
    while index >= 0:
        _avg_pool_body(x[a:b], kh, kw, sh, sw, ph, pw, count_include_pad, divisor, y[a:b])
        index, a, b = next_chunk(plan, go, index)


@njit(cache=True, nogil=True)
def _avg_pool_backward_chunks(plan, go, gy, kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx):
    index, a, b = next_chunk(plan, go, -1)
    while index >= 0:
        _avg_pool_backward_body(gy[a:b], kh, kw, sh, sw, ph, pw, count_include_pad, divisor, gx[a:b])
        index, a, b = next_chunk(plan, go, index)


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override=None):
    """y (N, C, Ho, Wo): window means. The divisor is the window size clipped to the padded input
    (count_include_pad) or to the input, or ``divisor_override`` when given (PyTorch's rules)."""
    x = np.ascontiguousarray(x)
    out_hw = pool_output_size(x.shape[2:], kernel, stride, padding, 1, ceil_mode)
    y = np.empty((*x.shape[:2], *out_hw), x.dtype)
    divisor = int(divisor_override or 0)

    def work(plan, go, images):
        _avg_pool_chunks(plan, go, x, *kernel, *stride, *padding, bool(count_include_pad), divisor, y)

    over_chunks(work, x.shape[0], 0, x.itemsize, math.prod(x.shape[1:]))
    return y


def avg_pool2d_backward(gy, x_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                        divisor_override=None):
    """gx (x_shape): each output gradient divided by its divisor, added to its whole window."""
    gy = np.ascontiguousarray(gy)
    gx = np.empty(x_shape, gy.dtype)
    divisor = int(divisor_override or 0)

    def work(plan, go, images):
        _avg_pool_backward_chunks(plan, go, gy, *kernel, *stride, *padding, bool(count_include_pad), divisor, gx)

    over_chunks(work, gx.shape[0], 0, gy.itemsize, math.prod(gx.shape[1:]))
    return gx


@njit(cache=True, inline="always")
def _adaptive_pool_body(x, is_max, y, idx):
    n_img, c_in, h, w = x.shape
    ho, wo = y.shape[2:]
    for p in range(n_img * c_in):
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


@njit(cache=True, inline="always")
def _adaptive_avg_backward_body(gy, gx):
    n_img, c_in, h, w = gx.shape
    ho, wo = gy.shape[2:]
    for p in range(n_img * c_in):
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


@njit(cache=True, nogil=True)
def _adaptive_pool_chunks(plan, go, x, is_max, y, idx):
    """idx: (N, C, Ho, Wo) for max pooling, a (1, 1, 1, 1) placeholder for averages."""
    index, a, b = next_chunk(plan, go, -1)
    while index >= 0:
        _adaptive_pool_body(x[a:b], is_max, y[a:b], idx[a:b] if is_max else idx)
        index, a, b = next_chunk(plan, go, index)


@njit(cache=True, nogil=True)
def _adaptive_avg_backward_chunks(plan, go, gy, gx):
    index, a, b = next_chunk(plan, go, -1)
    while index >= 0:
        _adaptive_avg_backward_body(gy[a:b], gx[a:b])
        index, a, b = next_chunk(plan, go, index)


def _adaptive_pool(x, output_size, is_max):
    """(y, idx) of adaptive max (is_max) or average pooling; idx is a placeholder for averages."""
    x = np.ascontiguousarray(x)
    y = np.empty((*x.shape[:2], *output_size), x.dtype)
    idx = np.empty(y.shape if is_max else (1, 1, 1, 1), np.int64)

    def work(plan, go, images):
        _adaptive_pool_chunks(plan, go, x, is_max, y, idx)

    over_chunks(work, x.shape[0], 0, x.itemsize, math.prod(x.shape[1:]))
    return y, idx


def adaptive_avg_pool2d_forward(x, output_size):
    """y (N, C, *output_size): means over windows [floor(i H / Ho), ceil((i + 1) H / Ho)) per axis;
    output_size (1, 1) is global average pooling."""
    return _adaptive_pool(x, output_size, False)[0]


def adaptive_avg_pool2d_backward(gy, x_shape):
    """gx (x_shape): each output gradient divided by its window's area, added to the window."""
    gy = np.ascontiguousarray(gy)
    gx = np.empty(x_shape, gy.dtype)

    def work(plan, go, images):
        _adaptive_avg_backward_chunks(plan, go, gy, gx)

    over_chunks(work, gx.shape[0], 0, gy.itemsize, math.prod(gx.shape[1:]))
    return gx


def adaptive_max_pool2d_forward(x, output_size):
    """(y, indices) over the adaptive windows (ties and NaNs as max_pool2d)."""
    return _adaptive_pool(x, output_size, True)
