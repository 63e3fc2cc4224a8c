"""The memory-moving half of convolution on the GPU: im2col, col2im and the two layout changes.

Same column layout as minicnn.kernels.cpu.im2col (one matrix for the whole batch):

    cols[r, n * L + oh * Wo + ow] = x[n, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]   (0 in the padding)
    with r = (c * kh + i) * kw + j  and  L = Ho * Wo

Each kernel gives one thread one element of the array it WRITES (grid-stride loops, see launch.py):
im2col one column entry, col2im one input pixel, which GATHERS the column entries copied from it
(the pixel's kernel offsets (i, j) whose output position lands on the stride grid). Gathering
instead of scattering means no two threads write the same place: no atomics, and the sums come out
the same on every run.
"""
from numba import cuda, float64

from .launch import THREADS, block_sum, unravel4


@cuda.jit(cache=True)
def im2col(x, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, cols):
    """Fill cols (C*kh*kw, N*Ho*Wo) from x (N, C, H, W)."""
    h, w = x.shape[2], x.shape[3]
    width = cols.shape[1]
    for e in range(cuda.grid(1), cols.size, cuda.gridsize(1)):
        r = e // width                # consecutive threads: consecutive columns (coalesced writes)
        q = e % width
        c = r // (kh * kw)
        i = (r // kw) % kh
        j = r % kw
        n = q // (ho * wo)
        oh = (q // wo) % ho
        ow = q % wo
        hh = oh * sh - ph + i * dh
        ww = ow * sw - pw + j * dw
        if 0 <= hh < h and 0 <= ww < w:
            cols[r, q] = x[n, c, hh, ww]
        else:
            cols[r, q] = 0


@cuda.jit(cache=True)
def col2im(cols, kh, kw, sh, sw, ph, pw, dh, dw, ho, wo, gx):
    """The adjoint of im2col: gx[n, c, hh, ww] = the sum of every column entry copied from it."""
    for e in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        n, c, hh, ww = unravel4(e, gx.shape)
        total = gx.dtype.type(0)
        for i in range(kh):
            a = hh + ph - i * dh                  # = oh * sh for the output row oh that sees (hh, i)
            if a < 0 or a % sh != 0 or a // sh >= ho:
                continue
            oh = a // sh
            for j in range(kw):
                b = ww + pw - j * dw
                if b < 0 or b % sw != 0 or b // sw >= wo:
                    continue
                total += cols[(c * kh + i) * kw + j, (n * ho + oh) * wo + b // sw]
        gx[n, c, hh, ww] = total


@cuda.jit(cache=True)
def rows_to_nchw(rows, bias, y):
    """y[n, o, oh, ow] = rows[o, n * L + oh * Wo + ow] + bias[o], for rows (O, N*L), y (N, O, Ho, Wo)."""
    hw = y.shape[2] * y.shape[3]
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        n, o, oh, ow = unravel4(e, y.shape)
        y[n, o, oh, ow] = rows[o, n * hw + oh * y.shape[3] + ow] + bias[o]


@cuda.jit(cache=True)
def nchw_to_rows(gy, rows):
    """rows[o, n * L + l] = gy[n, o, l // Wo, l % Wo]: the layout change of the incoming gradient."""
    hw = gy.shape[2] * gy.shape[3]
    for e in range(cuda.grid(1), gy.size, cuda.gridsize(1)):
        n, o, oh, ow = unravel4(e, gy.shape)
        rows[o, n * hw + oh * gy.shape[3] + ow] = gy[n, o, oh, ow]


@cuda.jit(cache=True)
def channel_sums(a, out):
    """out[c] = the sum of a[:, c] for a (N, C, L): block c sums channel c, in float64."""
    partial = cuda.shared.array(THREADS, float64)     # launched with THREADS threads a block
    n_img, channels, length = a.shape
    for c in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        total = 0.0
        for e in range(cuda.threadIdx.x, n_img * length, cuda.blockDim.x):
            total += a[e // length, c, e % length]
        total = block_sum(total, partial)
        if cuda.threadIdx.x == 0:
            out[c] = total
