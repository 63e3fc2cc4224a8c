"""The memory-moving half of convolution: im2col, col2im and the two layout changes around the GEMM.

The column array has one row per kernel tap r = (c * kh + i) * kw + j and one column per output
pixel, indexed here as cols[r, n, oh * Wo + ow] (a (C*kh*kw, N, Ho*Wo) array):

    cols[r, n, oh * Wo + ow] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]       (0 in the padding)

The same kernels fill two memory orders (see conv.py): (C*kh*kw, N, L), one matrix for the whole
batch, or, with ``per_image``, (N, C*kh*kw (+ spare rows), L), one matrix per image. Both arrays are
C-contiguous, so each row cols[r, n] is a contiguous vector that Numba knows is contiguous.
With the first, the product W @ cols is (O, N*L): ``rows_to_nchw`` turns it into the (N, O, Ho, Wo)
output and adds the bias in the same pass; ``nchw_to_rows`` is the reverse for the incoming gradient
and sums the bias gradient on the way.

Each loop only visits the in-bounds part of a row (``_valid_range``), so the inner loops have no
branches. Their indices are uint64 (``u``): Numba then skips its negative-index wrap-around test,
which otherwise stops LLVM from vectorizing these short copies (2-3x slower).
"""
from numba import njit, prange
from numba import uint64 as u


@njit(cache=True, inline="always")
def _valid_range(offset, stride, size, n_out):
    """[lo, hi): the output positions o with 0 <= o * stride + offset < size."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = (size - 1 - offset) // stride + 1 if size - 1 - offset >= 0 else 0
    return min(lo, n_out), max(min(hi, n_out), min(lo, n_out))


@njit(parallel=True, cache=True)
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, cols, per_image):
    """Fill cols (C*kh*kw, N, Ho*Wo), or (N, >= C*kh*kw, Ho*Wo) when per_image, from x (N, C, H, W)."""
    n_img, c_in, h, w = x.shape
    flat_x = x.reshape(-1)
    for r in prange(c_in * kh * kw):
        c, i, j = r // (kh * kw), (r // kw) % kh, r % kw
        lo, hi = _valid_range(j * dw - pw, sw, w, wo)
        for n in range(n_img):
            row = cols[n, r] if per_image else cols[r, n]
            for oh in range(ho):
                start = u(oh * wo)                    # this output row's place in cols[r, n]
                hh = oh * sh - ph + i * dh
                if hh < 0 or hh >= h:                 # the whole row reads padding
                    lo_, hi_ = wo, wo
                else:
                    lo_, hi_ = lo, hi
                for k in range(lo_):
                    row[start + u(k)] = 0
                src = u(((n * c_in + c) * h + hh) * w + lo_ * sw + j * dw - pw) if hi_ > lo_ else u(0)
                for k in range(hi_ - lo_):
                    row[start + u(lo_ + k)] = flat_x[src + u(k * sw)]
                for k in range(hi_, wo):
                    row[start + u(k)] = 0


@njit(parallel=True, cache=True)
def col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, gx, per_image):
    """The adjoint of im2col: gx (N, C, H, W) = sum of every entry of cols (laid out as for im2col)
    onto its source pixel. One (n, c) plane per task, so no two threads write the same pixel."""
    n_img, c_in, h, w = gx.shape
    for p in prange(n_img * c_in):
        n, c = p // c_in, p % c_in
        plane = gx[n, c].reshape(-1)                  # a view: writes land in gx
        plane[:] = 0
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                row = cols[n, r] if per_image else cols[r, n]
                lo, hi = _valid_range(j * dw - pw, sw, w, wo)
                for oh in range(ho):
                    hh = oh * sh - ph + i * dh
                    if hh < 0 or hh >= h or hi <= lo:
                        continue
                    start = u(oh * wo + lo)
                    dst = u(hh * w + lo * sw + j * dw - pw)
                    for k in range(hi - lo):
                        plane[dst + u(k * sw)] += row[start + u(k)]


@njit(parallel=True, cache=True)
def rows_to_nchw(rows, bias, out):
    """out[n, o, l] = rows[o, n * L + l] + bias[o], for rows (O, N*L) and out (N, O, L)."""
    n_img, o_ch, hw_out = out.shape
    for p in prange(n_img * o_ch):
        n, o = p // o_ch, p % o_ch
        b = bias[o]
        src, dst = rows[o], out[n, o]
        start = u(n * hw_out)
        for k in range(hw_out):
            dst[u(k)] = src[start + u(k)] + b


@njit(parallel=True, cache=True)
def nchw_to_rows(gy, rows, bias_grad):
    """rows[o, n * L + l] = gy[n, o, l], and bias_grad[o] = the sum of gy[:, o] (in float64)."""
    n_img, o_ch, hw_out = gy.shape
    for o in prange(o_ch):
        total = 0.0
        dst = rows[o]
        for n in range(n_img):
            src = gy[n, o]
            start = u(n * hw_out)
            for k in range(hw_out):
                v = src[u(k)]
                dst[start + u(k)] = v
                total += v
        bias_grad[o] = total
