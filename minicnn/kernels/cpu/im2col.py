"""The memory-moving half of convolution: im2col, col2im and the two layout changes around the GEMM.

Column layout (one matrix for the whole batch, so each convolution is ONE matrix product per group):

    cols[r, n * L + oh * Wo + ow] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]   (0 in the padding)
    with r = (c * kh + i) * kw + j  and  L = Ho * Wo

so rows r of group g (channels c of that group) are contiguous and ``w.reshape(O, C/g * kh * kw)``
multiplies them directly. The product is (O, N*L): ``rows_to_nchw`` turns it into the (N, O, Ho, Wo)
output and adds the bias in the same pass; ``nchw_to_rows`` is the reverse for the incoming gradient
and sums the bias gradient on the way.

Each loop only visits the in-bounds part of a row (``_valid_range``), so the inner loops have no
branches and Numba vectorizes them.
"""
import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _valid_range(offset, stride, size, n_out):
    """[lo, hi): the output positions o with 0 <= o * stride + offset < size."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = (size - 1 - offset) // stride + 1 if size - 1 - offset >= 0 else 0
    return min(lo, n_out), max(min(hi, n_out), min(lo, n_out))


@njit(parallel=True, cache=True)
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, cols):
    """Fill cols (C*kh*kw, N*Ho*Wo) from x (N, C, H, W); see the module docstring for the layout."""
    n_img, c_in, h, w = x.shape
    hw_out = ho * wo
    for r in prange(c_in * kh * kw):
        c = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        lo, hi = _valid_range(j * dw - pw, sw, w, wo)
        for n in range(n_img):
            for oh in range(ho):
                base = n * hw_out + oh * wo
                hh = oh * sh - ph + i * dh
                if hh < 0 or hh >= h:
                    for ow in range(wo):
                        cols[r, base + ow] = 0
                    continue
                for ow in range(lo):
                    cols[r, base + ow] = 0
                first = lo * sw - pw + j * dw
                for ow in range(lo, hi):
                    cols[r, base + ow] = x[n, c, hh, first + (ow - lo) * sw]
                for ow in range(hi, wo):
                    cols[r, base + ow] = 0


@njit(parallel=True, cache=True)
def col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, gx):
    """The adjoint of im2col: gx (N, C, H, W) = sum of every column entry onto its source pixel.
    One (n, c) plane per task, so no two threads write the same pixel."""
    n_img, c_in, h, w = gx.shape
    hw_out = ho * wo
    for p in prange(n_img * c_in):
        n = p // c_in
        c = p % c_in
        gx[n, c] = 0
        for i in range(kh):
            for j in range(kw):
                r = (c * kh + i) * kw + j
                lo, hi = _valid_range(j * dw - pw, sw, w, wo)
                first = lo * sw - pw + j * dw
                for oh in range(ho):
                    hh = oh * sh - ph + i * dh
                    if hh < 0 or hh >= h:
                        continue
                    base = n * hw_out + oh * wo
                    for ow in range(lo, hi):
                        gx[n, c, hh, first + (ow - lo) * sw] += cols[r, base + ow]


@njit(parallel=True, cache=True)
def rows_to_nchw(rows, bias, out):
    """out[n, o, l] = rows[o, n * L + l] + bias[o], for rows (O, N*L) and out (N, O, L)."""
    n_img, o_ch, hw_out = out.shape
    for p in prange(n_img * o_ch):
        n = p // o_ch
        o = p % o_ch
        b = bias[o]
        for k in range(hw_out):
            out[n, o, k] = rows[o, n * hw_out + k] + b


@njit(parallel=True, cache=True)
def nchw_to_rows(gy, rows, bias_grad):
    """rows[o, n * L + l] = gy[n, o, l], and bias_grad[o] = the sum of gy[:, o] (in float64)."""
    n_img, o_ch, hw_out = gy.shape
    for o in prange(o_ch):
        total = 0.0
        for n in range(n_img):
            for k in range(hw_out):
                v = gy[n, o, k]
                rows[o, n * hw_out + k] = v
                total += v
        bias_grad[o] = total
