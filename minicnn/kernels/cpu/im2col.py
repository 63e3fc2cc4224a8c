"""The memory-moving half of convolution: im2col, col2im, the two layout changes around the GEMM
and the bias gradient's sums.

The images are taken in blocks of n (all the images of a chunk, or one image), and the column
array of a block has one row per kernel tap r = (c * kh + i) * kw + j and one column per output
pixel and image, the image fastest:

    cols[b, r, (oh * Wo + ow) * n + m] = x[b*n + m, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
                                                                               (0 in the padding)

so W (O, C*kh*kw) @ cols[b] is one matrix product for the block: rows (O, Ho*Wo*n).

Why the image index fastest: im2col first lays one channel of a block out zero-padded with its n
images side by side, padded[h, w, m] (``_pad_channel``). One tap's one output row is then, for
stride 1, Wo*n consecutive entries copied from Wo*n consecutive entries, a long loop that
vectorizes; one image's row alone is Wo pixels, 10 for LeNet-5's C3 and 4 for a stride-2 layer on
8x8 maps, too short a trip for the loop to pay its setup. col2im adds the same runs back and
``_unpad_channel`` turns the sum into (N, C, H, W). ``rows_to_nchw`` turns the product's rows into
the (n, O, Ho, Wo) output, adding the bias in the same pass; ``nchw_to_rows`` is the reverse, for
the incoming gradient. conv.py uses blocks of one image (n = 1) for large images, whose products
W @ cols[b] are then already the (O, Ho*Wo) planes of the output and whose rows are long anyway,
and one block for the chunk otherwise. Padding needs no test anywhere: the padded block's border
is zero.

Why one channel at a time: the padded channel (13 KiB for 32 images of 8x8 with padding 1) stays
in the L1 cache while its kh*kw taps are copied out of it (or added into it). Padded whole, the
block of a (32, 64, 8, 8) chunk took 800 KiB of the L2 cache beside the 1.2 MiB of columns, and
im2col and col2im took 1.3x and 1.8x as long (190 us against 145 and 107).

The kernels are serial and release the GIL (``nogil``): conv.py runs chunks on several threads.
Indices are uint64 (``u``): Numba then skips its negative-index wrap-around test, which otherwise
stops LLVM from vectorizing these loops (2-3x slower).
"""
import numpy as np
from numba import njit
from numba import uint64 as u


@njit(cache=True, nogil=True, inline="always")
def _copy_row(src, start, step, dst, first, count):
    """dst[first + k] = src[start + k * step] for k < count."""
    for k in range(count):
        dst[u(first + k)] = src[u(start + k * step)]


@njit(cache=True, nogil=True, inline="always")
def _pad_channel(x, first, n, c, ph, pw, block):
    """block[((h + ph) * (W + 2pw) + w + pw) * n + m] = x[first + m, c, h, w] for m < n: channel c
    of n images, side by side, in the interior of a flat padded block; its border is left as it
    is (zero)."""
    h, w = x.shape[2:]
    wp = w + 2 * pw
    for hh in range(h):
        start = ((hh + ph) * wp + pw) * n
        for m in range(n):
            row = x[first + m, c, hh]
            if n == 1:                            # a constant stride lets LLVM vectorize
                _copy_row(row, 0, 1, block, start, w)
            else:
                for ww in range(w):
                    block[u(start + ww * n + m)] = row[u(ww)]


@njit(cache=True, nogil=True, inline="always")
def _unpad_channel(block, first, n, c, ph, pw, gx):
    """gx[first + m, c, h, w] = block[((h + ph) * (W + 2pw) + w + pw) * n + m]: the reverse of
    _pad_channel."""
    h, w = gx.shape[2:]
    wp = w + 2 * pw
    for m in range(n):
        for hh in range(h):
            start = ((hh + ph) * wp + pw) * n + m
            row = gx[first + m, c, hh]
            if n == 1:                            # as in _pad_channel
                _copy_row(block, start, 1, row, 0, w)
            else:
                _copy_row(block, start, n, row, 0, w)


@njit(cache=True, nogil=True, inline="always")
def _copy_runs(src, start, sw, n, dst, first, wo):
    """dst[first + ow * n + m] = src[start + ow * sw * n + m] for ow < Wo, m < n: one output row
    of one tap, Wo runs of n entries that lie sw * n apart in the padded block."""
    if sw == 1:                               # the runs touch: one run of Wo * n
        _copy_row(src, start, 1, dst, first, wo * n)
    elif n > 1:
        for ow in range(wo):
            _copy_row(src, start + ow * sw * n, 1, dst, first + ow * n, n)
    elif sw == 2:                             # runs of one entry: a constant step lets LLVM
        _copy_row(src, start, 2, dst, first, wo)    # vectorize
    else:
        _copy_row(src, start, sw, dst, first, wo)


@njit(cache=True, nogil=True, inline="always")
def _is_pointwise(kh, kw, sh, sw, ph, pw, ho, wo, h, w):
    """True for a 1x1 kernel, stride 1, no padding, whose (Ho, Wo) output covers the whole (H, W)
    input (not so under conv_transpose2d's output_padding): each pixel is then seen once, and a
    block of images is itself the column matrix."""
    return kh == 1 and kw == 1 and sh == 1 and sw == 1 and ph == 0 and pw == 0 and ho == h and wo == w


@njit(cache=True, nogil=True)
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, padded, cols):
    """Fill cols (B, C*kh*kw, Ho*Wo*n) from x (B*n, C, H, W), channel by channel: channel c of a
    block of n images is laid out in ``padded`` (scratch, at least (H+2ph)*(W+2pw)*n entries),
    then for each tap (i, j) and output row oh the Wo*n entries that tap sees are copied out; a
    pointwise convolution's channel (``_is_pointwise``) is written straight into its row of cols.
    Rows of cols may be longer than Ho*Wo*n (a gap between rows, conv.row_stride): the entries past
    Ho*Wo*n are left as they are."""
    blocks = cols.shape[0]
    n = x.shape[0] // blocks
    c_in, h, w = x.shape[1:]
    hp, wp = h + 2 * ph, w + 2 * pw
    if _is_pointwise(kh, kw, sh, sw, ph, pw, ho, wo, h, w):
        for b in range(blocks):
            for c in range(c_in):
                _pad_channel(x, b * n, n, c, 0, 0, cols[b, c])
        return
    block = padded[:hp * wp * n]
    if ph > 0 or pw > 0:
        block[:] = 0                          # the border; _pad_channel only writes the interior
    for b in range(blocks):
        for c in range(c_in):
            _pad_channel(x, b * n, n, c, ph, pw, block)
            _copy_taps(block, wp, n, kh, kw, sh, sw, dh, dw, ho, wo, cols[b, c * kh * kw:(c + 1) * kh * kw])


@njit(cache=True, nogil=True)
def _copy_taps(block, wp, n, kh, kw, sh, sw, dh, dw, ho, wo, rows):
    """rows[i * kw + j] = the Wo*n entries per output row that tap (i, j) sees in one padded
    channel ``block``. A function of its own, not inlined into im2col: there, LLVM left the copies
    of short runs scalar (LeNet-5's C1, runs of 28: 5.1 us an image against 4.0)."""
    for i in range(kh):
        for j in range(kw):
            row = rows[i * kw + j]
            for oh in range(ho):
                start = ((oh * sh + i * dh) * wp + j * dw) * n
                _copy_runs(block, start, sw, n, row, oh * wo * n, wo)


@njit(cache=True, nogil=True, inline="always")
def _add_row(src, first, dst, start, step, count):
    """dst[start + k * step] += src[first + k] for k < count."""
    for k in range(count):
        dst[u(start + k * step)] += src[u(first + k)]


@njit(cache=True, nogil=True, inline="always")
def _add_runs(src, first, dst, start, sw, n, wo):
    """The adjoint of _copy_runs: dst[start + ow * sw * n + m] += src[first + ow * n + m]."""
    if sw == 1:
        _add_row(src, first, dst, start, 1, wo * n)
    elif n > 1:
        for ow in range(wo):
            _add_row(src, first + ow * n, dst, start + ow * sw * n, 1, n)
    elif sw == 2:
        _add_row(src, first, dst, start, 2, wo)
    else:
        _add_row(src, first, dst, start, sw, wo)


@njit(cache=True, nogil=True)
def col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, padded, gx):
    """The adjoint of im2col: gx (B*n, C, H, W) = the sum of every entry of cols (B, C*kh*kw,
    Ho*Wo*n) onto its source pixel, channel by channel: the runs of channel c's taps are added into
    ``padded`` (scratch, as for im2col) and its interior then copied out; a pointwise
    convolution's channel is copied straight out of its row of cols. Entries of cols past Ho*Wo*n
    in a row are not read."""
    blocks = cols.shape[0]
    n = gx.shape[0] // blocks
    c_in, h, w = gx.shape[1:]
    hp, wp = h + 2 * ph, w + 2 * pw
    if _is_pointwise(kh, kw, sh, sw, ph, pw, ho, wo, h, w):
        for b in range(blocks):
            for c in range(c_in):
                _unpad_channel(cols[b, c], b * n, n, c, 0, 0, gx)
        return
    block = padded[:hp * wp * n]
    for b in range(blocks):
        for c in range(c_in):
            block[:] = 0
            _add_taps(cols[b, c * kh * kw:(c + 1) * kh * kw], wp, n, kh, kw, sh, sw, dh, dw, ho, wo, block)
            _unpad_channel(block, b * n, n, c, ph, pw, gx)


@njit(cache=True, nogil=True)
def _add_taps(rows, wp, n, kh, kw, sh, sw, dh, dw, ho, wo, block):
    """The adjoint of _copy_taps: each entry of rows[i * kw + j] added onto the entry of the padded
    channel ``block`` that tap (i, j) saw."""
    for i in range(kh):
        for j in range(kw):
            row = rows[i * kw + j]
            for oh in range(ho):
                start = ((oh * sh + i * dh) * wp + j * dw) * n
                _add_runs(row, oh * wo * n, block, start, sw, n, wo)


@njit(cache=True, nogil=True, inline="always")
def copy_rows(src, dst):
    """dst[r, :L] = src[r] for src (R, L): into a matrix whose rows lie further apart (row_stride)."""
    for r in range(src.shape[0]):
        _copy_row(src[r], 0, 1, dst[r], 0, src.shape[1])


@njit(cache=True, nogil=True)
def pad_image(x, m, ph, pw, flat):
    """flat[(c * Hp + h + ph) * Wp + w + pw] = x[m, c, h, w]: image m of x (N, C, H, W) zero-padded,
    (C, Hp, Wp) flat (direct.py's layout); the border of flat is left as it is (zero)."""
    plane = (x.shape[2] + 2 * ph) * (x.shape[3] + 2 * pw)
    for c in range(x.shape[1]):
        _pad_channel(x, m, 1, c, ph, pw, flat[c * plane:(c + 1) * plane])


@njit(cache=True, nogil=True)
def widen(g, ho, wp, wide):
    """wide[o, oh * Wp + ow] = g[o, oh * Wo + ow] for g (O, Ho*Wo): each channel's output rows laid
    out Wp apart (direct.py's layout); the entries past each row's Wo are left as they are (zero)."""
    for o in range(g.shape[0]):
        copy_rows(g[o].reshape(ho, g.shape[1] // ho), wide[o, :ho * wp].reshape(ho, wp))


@njit(cache=True, nogil=True)
def rows_to_nchw(rows, bias, out):
    """out[m, o, l] = rows[o, l * n + m] + bias[o], for rows (O, L*n) and out (n, O, L)."""
    n, o_ch, hw = out.shape
    for o in range(o_ch):
        src, b = rows[o], bias[o]
        for m in range(n):
            dst = out[m, o]
            for k in range(hw):
                dst[u(k)] = src[u(k * n + m)] + b


@njit(cache=True, nogil=True)
def nchw_to_rows(gy, rows):
    """rows[o, l * n + m] = gy[m, o, l], for gy (n, O, L) and rows (O, L*n)."""
    n, o_ch, hw = gy.shape
    for o in range(o_ch):
        dst = rows[o]
        for m in range(n):
            src = gy[m, o]
            for k in range(hw):
                dst[u(k * n + m)] = src[u(k)]


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
