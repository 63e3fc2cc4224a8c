"""The weight gradient of a convolution with few output channels, by direct loops (no im2col).

Why: for a layer like LeNet-5's C1 (1 -> 6 channels, 5x5, 28x28 outputs), im2col's weight
gradient is the product cols (K, L) @ gy^T (L, O) with only O = 6 columns, a shape on which BLAS
runs at a fraction of its speed; with the columns to build first, im2col + product took 2.7x the
time of the loops below (64 images, one thread). From 16 output channels on the product is as fast
or faster (the loops' backward 0.96-1.05x its time at 16, 1.12-1.24x at 32), so conv.py takes this
path for O <= DIRECT_MAX_OUT_CHANNELS (8), stride 1, one group, large images (its per-image path).

How: one image at a time, x is laid out zero-padded, (C, Hp, Wp) flat (``pad_image``), and gy
at the same row width Wp, the entries past each row's Wo outputs zero (``widen``; both copies are
im2col.py's). Output pixel q = oh * Wp + ow then sees tap t = (c, i, j) of the padded image at
q + offsets[t], offsets[t] = (c * Hp + i * dh) * Wp + j * dw, so each entry of the weight
gradient is one long dot product:

    gW[o, t] = sum over q of gy_wide[o, q] * x_padded[offsets[t] + q]

(the zero entries of gy_wide drop the pixels past a row's end). ``weight_grad_image`` takes these
dot products 2 output channels x 2 taps at a time, 16 pixels a step, their 64 partial sums in
registers (registers.stack_array): 8 vector loads and 8 vector FMAs a step. The sums' order differs from
BLAS's: the results agree to float rounding. An inf or NaN pixel of x would meet the zeros of
the dropped pixels (0 * inf = NaN) in taps that never see it, so conv.py takes this path only for
an x that is all finite (one np.isfinite pass, small beside the convolution).
"""
import numpy as np
from numba import njit
from numba import uint64 as u

from .registers import stack_array

DIRECT_MAX_OUT_CHANNELS = 8
LANES = 16
"""Pixels a step of the dot products: two AVX vectors of float32."""


def layout(x_shape, out_channels, kernel, padding, dilation, out_hw):
    """(offsets, xp_size, gyw_shape) for weight_grad_image: the taps' offsets into x padded,
    (C, Hp, Wp) flat; the entries xp needs (room for the last tap's window); and gyw's shape, O
    rounded up to even rows of Ho * Wp entries rounded up to LANES."""
    c, hp, wp = x_shape[1], x_shape[2] + 2 * padding[0], x_shape[3] + 2 * padding[1]
    offsets = _tap_offsets(c, kernel, dilation, hp, wp)
    length = -(-(out_hw[0] * wp) // LANES) * LANES
    return offsets, int(offsets.max()) + length, ((out_channels + 1) // 2 * 2, length)


def _tap_offsets(c, kernel, dilation, hp, wp):
    """offsets[t] for the taps t = (c * kh + i) * kw + j, padded with 0 to an even count."""
    kh, kw = kernel
    taps = [(ci * hp + i * dilation[0]) * wp + j * dilation[1]
            for ci in range(c) for i in range(kh) for j in range(kw)]
    return np.array(taps + [0] * (len(taps) % 2), np.int64)


@njit(cache=True, nogil=True, fastmath={"contract"})
def weight_grad_image(xp, gyw, offsets, taps, length, first, gwt):
    """gwt (T [+ 1], O) = (first) or += (not first) the image's gW^T: gwt[t, o] = sum over q <
    length of gyw[o, q] * xp[offsets[t] + q] for the T taps, and with T + 1 rows the bias gradient,
    gwt[T, o] = sum of gyw[o]. gyw has O rounded up to even rows (the extra one zero), offsets T
    rounded up to even entries; xp has room for offsets[-1] + length entries."""
    o_ch = gwt.shape[1]
    for o0 in range(0, o_ch, 2):
        g0, g1 = gyw[o0], gyw[o0 + 1]
        if gwt.shape[0] > taps:
            _add_row_sums(g0, length, first, gwt[taps], o0)
            if o0 + 1 < o_ch:
                _add_row_sums(g1, length, first, gwt[taps], o0 + 1)
        for t0 in range(0, taps, 2):
            a0, a1 = offsets[t0], offsets[t0 + 1]
            acc = stack_array(64, xp.dtype)           # [o0 t0 | o0 t1 | o1 t0 | o1 t1] x 16 pixels
            for k in range(64):
                acc[u(k)] = 0
            for p in range(0, length, LANES):
                for k in range(LANES):
                    y0, y1 = g0[u(p + k)], g1[u(p + k)]
                    x0, x1 = xp[u(a0 + p + k)], xp[u(a1 + p + k)]
                    acc[u(k)] += y0 * x0
                    acc[u(16 + k)] += y0 * x1
                    acc[u(32 + k)] += y1 * x0
                    acc[u(48 + k)] += y1 * x1
            for r in range(2):
                for s in range(2):
                    if o0 + r < o_ch and t0 + s < taps:
                        total = acc[u((2 * r + s) * LANES)]
                        for k in range(1, LANES):
                            total += acc[u((2 * r + s) * LANES + k)]
                        gwt[t0 + s, o0 + r] = total if first else gwt[t0 + s, o0 + r] + total


@njit(cache=True, nogil=True, inline="always")
def _add_row_sums(g, length, first, out, o):
    """out[o] = (first) or += the sum of g[:length], 16 partial sums in registers."""
    acc = stack_array(16, g.dtype)
    for k in range(LANES):
        acc[u(k)] = 0
    for p in range(0, length, LANES):
        for k in range(LANES):
            acc[u(k)] += g[u(p + k)]
    total = acc[u(0)]
    for k in range(1, LANES):
        total += acc[u(k)]
    out[o] = total if first else out[o] + total
