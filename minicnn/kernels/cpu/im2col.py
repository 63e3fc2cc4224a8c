"""The memory-moving half of convolution: im2col, col2im and the two layout changes around the GEMM.

The column array has one row per kernel tap r = (c * kh + i) * kw + j and one column per output
pixel, indexed here as cols[r, n, oh * Wo + ow] (a (C*kh*kw, N, Ho*Wo) array):

    cols[r, n, oh * Wo + ow] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]       (0 in the padding)

The same kernels fill two memory orders (see conv.py): (C*kh*kw, N, L), one matrix for the whole
batch, or, with ``per_image``, (N, C*kh*kw (+ spare rows), L), one matrix per image. Both arrays are
C-contiguous, so each row cols[r, n] is a contiguous vector that Numba knows is contiguous.
With the first, the product W @ cols is (O, N*L): ``rows_to_nchw`` turns it into the (N, O, Ho, Wo)
output and adds the bias in the same pass; ``nchw_to_rows`` is the reverse for the incoming gradient.

Both im2col and col2im work one (n, c) plane at a time on a zero-padded copy of the plane, so
padding needs no test anywhere: im2col gathers each tap's pixels through a table of where every
output pixel's window starts, col2im adds each tap's row back and copies the interior out.
Each kernel comes as a threaded and a serial twin (see threads.py).
Indices are uint64 (``u``): Numba then skips its negative-index wrap-around test, which otherwise
stops LLVM from vectorizing these loops (2-3x slower).
"""
import numpy as np
from numba import njit, prange
from numba import uint64 as u


@njit(cache=True)
def _window_starts(ho, wo, sh, sw, wp):
    """start[oh * Wo + ow] = oh*sh*Wp + ow*sw: where output pixel (oh, ow)'s window starts in a
    padded plane of width Wp."""
    start = np.empty(ho * wo, np.int64)
    for oh in range(ho):
        for ow in range(wo):
            start[oh * wo + ow] = oh * sh * wp + ow * sw
    return start


@njit(cache=True, inline="always")
def _pad_plane(plane, ph, pw):
    """A flat zero-padded copy of a 2-D plane: (H + 2ph) x (W + 2pw)."""
    h, w = plane.shape
    wp = w + 2 * pw
    padded = np.zeros((h + 2 * ph) * wp, plane.dtype)
    for hh in range(h):
        for ww in range(w):
            padded[u((hh + ph) * wp + ww + pw)] = plane[hh, ww]
    return padded


@njit(cache=True, inline="always")
def _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, cols, per_image):
    """Fill cols (C*kh*kw, N, Ho*Wo), or (N, >= C*kh*kw, Ho*Wo) when per_image, from x (N, C, H, W)."""
    n_img, c_in, h, w = x.shape
    wp = w + 2 * pw
    starts = _window_starts(ho, wo, sh, sw, wp)
    for p in prange(n_img * c_in):
        n, c = p // c_in, p % c_in
        padded = _pad_plane(x[n, c], ph, pw)
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                row = cols[n, r] if per_image else cols[r, n]
                tap = i * dh * wp + j * dw            # the tap's offset inside every window
                for k in range(ho * wo):
                    row[u(k)] = padded[u(tap + starts[u(k)])]


@njit(parallel=True, cache=True)
def im2col_threads(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, cols, per_image):
    _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, cols, per_image)


@njit(cache=True)
def im2col_serial(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, cols, per_image):
    _im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, cols, per_image)


im2col = im2col_serial                            # the plain name: what one thread runs


@njit(cache=True, inline="always")
def _add_row(padded, start, step, row, first, count):
    """padded[start + k * step] += row[first + k] for k < count."""
    for k in range(count):
        padded[u(start + k * step)] += row[u(first + k)]


@njit(cache=True, inline="always")
def _col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, gx, per_image):
    """The adjoint of im2col: gx (N, C, H, W) = sum of every entry of cols (laid out as for im2col)
    onto its source pixel. One (n, c) plane per task, so no two threads write the same pixel."""
    n_img, c_in, h, w = gx.shape
    wp = w + 2 * pw
    for p in prange(n_img * c_in):
        n, c = p // c_in, p % c_in
        padded = np.zeros((h + 2 * ph) * wp, gx.dtype)
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                row = cols[n, r] if per_image else cols[r, n]
                for oh in range(ho):
                    start = (oh * sh + i * dh) * wp + j * dw
                    if sw == 1:                       # a constant stride lets LLVM vectorize
                        _add_row(padded, start, 1, row, oh * wo, wo)
                    elif sw == 2:
                        _add_row(padded, start, 2, row, oh * wo, wo)
                    else:
                        _add_row(padded, start, sw, row, oh * wo, wo)
        plane = gx[n, c]
        for hh in range(h):
            for ww in range(w):
                plane[hh, ww] = padded[u((hh + ph) * wp + ww + pw)]


@njit(parallel=True, cache=True)
def col2im_threads(cols, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, gx, per_image):
    _col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, gx, per_image)


@njit(cache=True)
def col2im_serial(cols, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, gx, per_image):
    _col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, gx, per_image)


col2im = col2im_serial


@njit(cache=True, inline="always")
def _rows_to_nchw(rows, bias, out):
    """out[n, o, l] = rows[o, n * L + l] + bias[o], for rows (O, N*L) and out (N, O, L)."""
    n_img, o_ch, hw = out.shape
    src, dst = rows.reshape(-1), out.reshape(-1)
    for n in prange(n_img):
        for o in range(o_ch):
            b, s0, d0 = bias[o], u((o * n_img + n) * hw), u((n * o_ch + o) * hw)
            for k in range(hw):
                dst[d0 + u(k)] = src[s0 + u(k)] + b


@njit(parallel=True, cache=True)
def rows_to_nchw_threads(rows, bias, out):
    _rows_to_nchw(rows, bias, out)


@njit(cache=True)
def rows_to_nchw_serial(rows, bias, out):
    _rows_to_nchw(rows, bias, out)


@njit(cache=True, inline="always")
def _nchw_to_rows(gy, rows):
    """rows[o, n * L + l] = gy[n, o, l], for gy (N, O, L) and rows (O, N*L)."""
    n_img, o_ch, hw = gy.shape
    src, dst = gy.reshape(-1), rows.reshape(-1)
    for o in prange(o_ch):
        for n in range(n_img):
            s0, d0 = u((n * o_ch + o) * hw), u((o * n_img + n) * hw)
            for k in range(hw):
                dst[d0 + u(k)] = src[s0 + u(k)]


@njit(parallel=True, cache=True)
def nchw_to_rows_threads(gy, rows):
    _nchw_to_rows(gy, rows)


@njit(cache=True)
def nchw_to_rows_serial(gy, rows):
    _nchw_to_rows(gy, rows)
