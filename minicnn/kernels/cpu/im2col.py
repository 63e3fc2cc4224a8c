"""The memory-moving half of convolution: im2col, col2im, the two layout changes around the GEMM
and the bias gradient's sums.

The column array has one row per kernel tap r = (c * kh + i) * kw + j and one column per output
pixel of every image, indexed here as cols[r, n, oh * Wo + ow] (a (C*kh*kw, N, Ho*Wo) array):

    cols[r, n, oh * Wo + ow] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]       (0 in the padding)

so W (O, C*kh*kw) @ cols is one matrix product for all N images: rows (O, N*Ho*Wo).
``rows_to_nchw`` turns those rows into the (N, O, Ho, Wo) output and adds the bias in the same pass;
``nchw_to_rows`` is the reverse, for the incoming gradient. With ``per_image`` the same kernels fill
(N, C*kh*kw, Ho*Wo) instead, one matrix per image, whose products W @ cols[n] are already the
(O, Ho*Wo) planes of the output (conv.py uses it for large images). conv.py calls these on a few
images at a time (a chunk of the batch), so that the arrays stay in the core's cache between the
passes.

Both im2col and col2im work one (n, c) plane at a time on a zero-padded copy of the plane, so
padding needs no test anywhere: for each tap and output row, im2col copies a row of pixels out of
the padded plane and col2im adds it back, the same loop in both directions.
The kernels are serial and release the GIL (``nogil``): conv.py runs chunks on several threads.
Indices are uint64 (``u``): Numba then skips its negative-index wrap-around test, which otherwise
stops LLVM from vectorizing these loops (2-3x slower).
"""
import numpy as np
from numba import njit
from numba import uint64 as u


@njit(cache=True, nogil=True, inline="always")
def _copy_into_padded(plane, padded, ph, pw):
    """The interior of the flat padded plane ((H + 2ph) x (W + 2pw)) = plane (H, W); the border
    is left as it is (zeros)."""
    h, w = plane.shape
    wp = w + 2 * pw
    for hh in range(h):
        for ww in range(w):
            padded[u((hh + ph) * wp + ww + pw)] = plane[hh, ww]


@njit(cache=True, nogil=True, inline="always")
def _copy_row(padded, start, step, row, first, count):
    """row[first + k] = padded[start + k * step] for k < count."""
    for k in range(count):
        row[u(first + k)] = padded[u(start + k * step)]


@njit(cache=True, nogil=True)
def _window_starts(ho, wo, sh, sw, wp):
    """start[oh * Wo + ow] = oh*sh*Wp + ow*sw: where output pixel (oh, ow)'s window starts in a
    padded plane of width Wp."""
    start = np.empty(ho * wo, np.int64)
    for oh in range(ho):
        for ow in range(wo):
            start[oh * wo + ow] = oh * sh * wp + ow * sw
    return start


ROW_COPY_MIN_WIDTH = 16
"""Output widths from which im2col copies whole rows (two or more vectors of 8 floats); narrower
outputs go through a table of window starts."""


@njit(cache=True, nogil=True)
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, cols, per_image):
    """Fill cols (C*kh*kw, N, Ho*Wo), or (N, C*kh*kw, Ho*Wo) when per_image, from x (N, C, H, W):
    for each tap (i, j) and output row oh,
    the Wo pixels that tap sees, every sw-th pixel of one padded row. Rows narrower than
    ROW_COPY_MIN_WIDTH cost more in loop overhead than in copying: each tap's Ho*Wo pixels are
    then gathered in one loop, through a table of where each output pixel's window starts."""
    n_img, c_in, h, w = x.shape
    wp = w + 2 * pw
    padded = np.zeros((h + 2 * ph) * wp, x.dtype)     # one buffer: its border stays zero
    starts = _window_starts(ho, wo, sh, sw, wp)
    for n in range(n_img):
        for c in range(c_in):
            _copy_into_padded(x[n, c], padded, ph, pw)
            for i in range(kh):
                for j in range(kw):
                    r = (c * kh + i) * kw + j
                    row = cols[n, r] if per_image else cols[r, n]
                    if wo < ROW_COPY_MIN_WIDTH:
                        tap = i * dh * wp + j * dw    # the tap's offset inside every window
                        for k in range(ho * wo):
                            row[u(k)] = padded[u(tap + starts[u(k)])]
                        continue
                    for oh in range(ho):
                        start = (oh * sh + i * dh) * wp + j * dw
                        if sw == 1:                   # a constant stride lets LLVM vectorize
                            _copy_row(padded, start, 1, row, oh * wo, wo)
                        elif sw == 2:
                            _copy_row(padded, start, 2, row, oh * wo, wo)
                        else:
                            _copy_row(padded, start, sw, row, oh * wo, wo)


@njit(cache=True, nogil=True, inline="always")
def _add_row(padded, start, step, row, first, count):
    """padded[start + k * step] += row[first + k] for k < count."""
    for k in range(count):
        padded[u(start + k * step)] += row[u(first + k)]


@njit(cache=True, nogil=True)
def col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, gx, per_image):
    """The adjoint of im2col: gx (N, C, H, W) = the sum of every entry of cols (laid out as for
    im2col) onto its source pixel, row by row (at every width: here the table was no faster)."""
    n_img, c_in, h, w = gx.shape
    wp = w + 2 * pw
    padded = np.empty((h + 2 * ph) * wp, gx.dtype)
    for n in range(n_img):
        for c in range(c_in):
            padded[:] = 0
            for i in range(kh):
                for j in range(kw):
                    r = (c * kh + i) * kw + j
                    row = cols[n, r] if per_image else cols[r, n]
                    for oh in range(ho):
                        start = (oh * sh + i * dh) * wp + j * dw
                        if sw == 1:                   # a constant stride lets LLVM vectorize
                            _add_row(padded, start, 1, row, oh * wo, wo)
                        elif sw == 2:
                            _add_row(padded, start, 2, row, oh * wo, wo)
                        else:
                            _add_row(padded, start, sw, row, oh * wo, wo)
            plane = gx[n, c]
            for hh in range(h):
                for ww in range(w):
                    plane[hh, ww] = padded[u((hh + ph) * wp + ww + pw)]


@njit(cache=True, nogil=True)
def rows_to_nchw(rows, bias, out):
    """out[n, o, l] = rows[o, n * L + l] + bias[o], for rows (O, N*L) and out (N, O, L)."""
    n_img, o_ch, hw = out.shape
    src, dst = rows.reshape(-1), out.reshape(-1)
    for n in range(n_img):
        for o in range(o_ch):
            b, s0, d0 = bias[o], u((o * n_img + n) * hw), u((n * o_ch + o) * hw)
            for k in range(hw):
                dst[d0 + u(k)] = src[s0 + u(k)] + b


@njit(cache=True, nogil=True)
def nchw_to_rows(gy, rows):
    """rows[o, n * L + l] = gy[n, o, l], for gy (N, O, L) and rows (O, N*L)."""
    n_img, o_ch, hw = gy.shape
    src, dst = gy.reshape(-1), rows.reshape(-1)
    for o in range(o_ch):
        for n in range(n_img):
            s0, d0 = u((n * o_ch + o) * hw), u((o * n_img + n) * hw)
            for k in range(hw):
                dst[d0 + u(k)] = src[s0 + u(k)]


@njit(cache=True, nogil=True)
def channel_sums(g):
    """(O,) float64: g (N, O, L) summed over the batch and the pixels (the bias gradient). Whole
    images are added into one float64 accumulator of O*L entries, a long elementwise loop that
    vectorizes, and only then are each channel's L entries added up: summing each short row of
    L pixels on its own cost 3-7x more."""
    n_img, o_ch, hw = g.shape
    flat = g.reshape(n_img, o_ch * hw)
    acc = np.zeros(o_ch * hw)
    for n in range(n_img):
        image = flat[n]
        for k in range(o_ch * hw):
            acc[u(k)] += image[u(k)]
    sums = np.zeros(o_ch)
    for o in range(o_ch):
        for k in range(hw):
            sums[o] += acc[u(o * hw + k)]
    return sums
