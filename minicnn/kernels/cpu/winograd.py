"""Winograd's F(2x2, 3x3): a 3x3 convolution (stride 1, dilation 1) with 2.25x fewer multiplications.

The output is cut into 2x2 tiles; each needs the 4x4 tile of (zero-padded) input d under it, and
(Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2015)

    y_tile (2x2) = A^T [ (G g G^T)  *  (B^T d B) ] A          (* elementwise, 4x4)

        B^T = [1  0 -1  0]      G = [1    0    0 ]      A^T = [1  1  1  0]
              [0  1  1  0]          [1/2  1/2  1/2]            [0  1 -1 -1]
              [0 -1  1  0]          [1/2 -1/2  1/2]
              [0  1  0 -1]          [0    0    1 ]

16 multiplications per tile and channel pair instead of 36. Summed over the input channels, the
elementwise product becomes 16 matrix products, one for each of the 4x4 positions xi:

    M[xi] (O, P) = U[xi] (O, C) @ V[xi] (C, P)      U = G g G^T per (o, c), V = B^T d B per (c, tile)

with P the tiles of every image. The backward pass uses the same three transforms, each replaced
by its adjoint (transpose), so it needs no new algebra:

    dM[xi] = A dY A^T                            gy's 2x2 tiles (zero past the edge), 4x4 each
    dU[xi] = dM[xi] @ V[xi]^T,   dg = G^T dU G    the weight gradient
    dV[xi] = U[xi]^T @ dM[xi],   dd = B dV B^T    added back onto the overlapping input tiles

The kernels below are the transforms; conv.py runs the products (BLAS, one batch of 16) and cuts
the batch into chunks as it does for im2col. Tile (ty, tx) starts at pixel (2ty, 2tx) of the padded
input; an odd output size leaves a half tile, whose extra outputs are dropped (forward) or read as
zero (backward). P = n * th * tw tiles ordered (image, tile row, tile column); U (16, O, C).

Two layouts of the transformed tiles, each where it is faster (both passed flat, see below):

- channel-major for the forward pass, V (16, C, P) and M (16, O, P): output_transform then
  writes y plane by plane (the forward pass tile-major took 20% longer);
- tile-major for the backward pass, V^T (16, P, C), dM^T (16, P, O) and dV^T (16, P, C): each
  product then reads two stored matrices, dU[xi] = (dM[xi]^T)^T @ V[xi]^T and dV[xi]^T =
  dM[xi]^T @ U[xi] (OpenBLAS ran dM @ V^T with V channel-major, transposed on the fly, 1.5-2x
  slower), and the transforms' loops run along the channels, long enough to vectorize.

Serial and ``nogil``, like im2col.py.
"""
import numpy as np
from numba import njit
from numba import uint64 as u


@njit(cache=True, nogil=True, inline="always")
def _bt(a0, a1, a2, a3):
    """B^T a: the input transform along one axis."""
    return a0 - a2, a1 + a2, a2 - a1, a1 - a3


@njit(cache=True, nogil=True, inline="always")
def _b(a0, a1, a2, a3):
    """B a: the adjoint of _bt."""
    return a0, a1 - a2 + a3, a2 + a1 - a0, -a3


@njit(cache=True, nogil=True, inline="always")
def _at(a0, a1, a2, a3):
    """A^T a: the output transform along one axis, 4 values to 2."""
    return a0 + a1 + a2, a1 - a2 - a3


@njit(cache=True, nogil=True, inline="always")
def _a(a0, a1):
    """A a: the adjoint of _at, 2 values to 4."""
    return a0, a0 + a1, a0 - a1, -a1


@njit(cache=True, nogil=True, inline="always")
def _g(a0, a1, a2):
    """G a: the weight transform along one axis, 3 values to 4."""
    return a0, 0.5 * (a0 + a1 + a2), 0.5 * (a0 - a1 + a2), a2


@njit(cache=True, nogil=True, inline="always")
def _gt(a0, a1, a2, a3):
    """G^T a: the adjoint of _g, 4 values to 3."""
    return a0 + 0.5 * (a1 + a2), 0.5 * (a1 - a2), 0.5 * (a1 + a2) + a3


def tiles(out_hw):
    """(th, tw): the 2x2 output tiles covering an (Ho, Wo) output."""
    return (out_hw[0] + 1) // 2, (out_hw[1] + 1) // 2


@njit(cache=True, nogil=True)
def weight_transform(w, wt):
    """wt (16, O, C) = U = G g G^T for every 3x3 filter g = w[o, c] of w (O, C, 3, 3)."""
    t = np.empty((4, 3), wt.dtype)
    for o in range(w.shape[0]):
        for c in range(w.shape[1]):
            g = w[o, c]
            for j in range(3):                    # G g: each column
                t[0, j], t[1, j], t[2, j], t[3, j] = _g(g[0, j], g[1, j], g[2, j])
            for i in range(4):                    # (G g) G^T: each row
                wt[4 * i, o, c], wt[4 * i + 1, o, c], wt[4 * i + 2, o, c], wt[4 * i + 3, o, c] = \
                    _g(t[i, 0], t[i, 1], t[i, 2])


@njit(cache=True, nogil=True)
def weight_transform_adjoint(du, gw):
    """gw (O, C, 3, 3) = G^T du G for every 4x4 du[:, o, c] of du (16, O, C)."""
    t = np.empty((3, 4), du.dtype)
    for o in range(gw.shape[0]):
        for c in range(gw.shape[1]):
            for j in range(4):                    # G^T du: each column
                t[0, j], t[1, j], t[2, j] = _gt(du[j, o, c], du[4 + j, o, c], du[8 + j, o, c], du[12 + j, o, c])
            g = gw[o, c]
            for i in range(3):                    # (G^T du) G: each row
                g[i, 0], g[i, 1], g[i, 2] = _gt(t[i, 0], t[i, 1], t[i, 2], t[i, 3])


# The channel-major transforms of the forward pass run one tile row at a time: first along the
# image's columns (the four pixel rows under the tile row combined, column by column), then tile by
# tile along the row. Their 2-D arrays (16, S) hold in row xi the (C, P) matrix V[xi] (or M[xi])
# flat, with S >= C * P: conv.py leaves a little more than C * P between the rows, since 16 streams
# exactly a multiple of 4 KiB apart fight over the same few L1 cache sets (4x slower).

@njit(cache=True, nogil=True)
def input_transform(x, ph, pw, th, tw, v):
    """v (16, >= C*P) = B^T d B for every 4x4 tile d of the zero-padded x (n, C, H, W)."""
    n_img, c_in, h, w = x.shape
    p_all, wp = n_img * th * tw, 2 * tw + 2       # wp: the padded width and a half tile
    padded = np.zeros((2 * th + 2) * wp, x.dtype)  # one buffer: its border stays zero
    t = np.empty(4 * wp, x.dtype)
    for n in range(n_img):
        for c in range(c_in):
            plane = x[n, c]
            for hh in range(h):
                for ww in range(w):
                    padded[u((hh + ph) * wp + ww + pw)] = plane[hh, ww]
            for ty in range(th):
                r = u(2 * ty * wp)
                for col in range(wp):             # B^T d: the 4 pixel rows combined
                    j = r + u(col)
                    t[u(col)], t[u(wp + col)], t[u(2 * wp + col)], t[u(3 * wp + col)] = \
                        _bt(padded[j], padded[j + u(wp)], padded[j + u(2 * wp)], padded[j + u(3 * wp)])
                p0 = u(c * p_all + (n * th + ty) * tw)
                for k in range(4):                # (B^T d) B: each tile's 4 columns
                    xi = u(4 * k)
                    for tx in range(tw):
                        q, i = u(k * wp + 2 * tx), p0 + u(tx)
                        v[xi, i], v[xi + u(1), i], v[xi + u(2), i], v[xi + u(3), i] = \
                            _bt(t[q], t[q + u(1)], t[q + u(2)], t[q + u(3)])


@njit(cache=True, nogil=True)
def output_transform(m, bias, th, tw, y):
    """y (n, O, Ho, Wo) = A^T m A + bias for every tile of m (16, >= O*P); the half tiles past an
    odd edge are cut off. The th*tw tiles of one (image, channel) plane, contiguous in m, go
    through one loop, long enough for LLVM to vectorize (a row of tiles alone is not: 4x slower);
    it writes the plane's even and odd output rows into two buffers, copied into y row by row."""
    n_img, o_ch, ho, wo = y.shape
    p_all, t_all = n_img * th * tw, th * tw
    top = np.empty(2 * t_all, y.dtype)            # output rows 2ty, 2tw wide (half tiles included)
    bottom = np.empty(2 * t_all, y.dtype)         # output rows 2ty + 1
    for n in range(n_img):
        for o in range(o_ch):
            b, p0 = bias[o], u(o * p_all + n * t_all)
            for t in range(t_all):
                i, q = p0 + u(t), u(2 * t)
                c0 = _at(m[0, i], m[4, i], m[8, i], m[12, i])            # A^T m: each column
                c1 = _at(m[1, i], m[5, i], m[9, i], m[13, i])
                c2 = _at(m[2, i], m[6, i], m[10, i], m[14, i])
                c3 = _at(m[3, i], m[7, i], m[11, i], m[15, i])
                y00, y01 = _at(c0[0], c1[0], c2[0], c3[0])              # (A^T m) A: each row
                y10, y11 = _at(c0[1], c1[1], c2[1], c3[1])
                top[q], top[q + u(1)], bottom[q], bottom[q + u(1)] = y00 + b, y01 + b, y10 + b, y11 + b
            rows = y[n, o]
            for ty in range(th):
                first = u(2 * ty * tw)
                for col in range(wo):
                    rows[2 * ty, col] = top[first + u(col)]
                if 2 * ty + 1 < ho:
                    for col in range(wo):
                        rows[2 * ty + 1, col] = bottom[first + u(col)]


# The tile-major transforms of the backward pass hold in row xi of their (16, S) arrays the (P, C)
# matrix V[xi]^T (or dM[xi]^T, (P, O)) flat, each tile's channels side by side, S >= P * C (the same
# gap). They run one row of tiles at a time, and every loop runs along a whole row of the layout,
# all tiles and channels at once (tw * C entries), through separate 1-D views (``_rows_*``): one
# loop per row of the transform matrix, long and contiguous, which LLVM vectorizes. An image goes
# in and out of this layout once, zero-padded as (H', 2, W'/2, C): rows, then the even and the odd
# columns, then the channels (``_padded_index``). The columns 2tx, 2tx + 1, 2tx + 2, 2tx + 3 of
# every tile of a row are then four plain slices: even[tx], odd[tx], even[tx + 1], odd[tx + 1].
# (Tile by tile, 4-16 steps along a row, such loops are too short to vectorize.) Flat indices are
# uint64 (``u``), as in im2col.py.

@njit(cache=True, nogil=True, inline="always")
def _padded_index(hh, col, c, row, half, c_in):
    """Where pixel (hh, col) of channel c of a padded image lies in the (H', 2, W'/2, C) layout:
    ``row`` entries per padded row, ``half`` columns of each parity."""
    return u(hh * row + ((col % 2) * half + col // 2) * c_in + c)


@njit(cache=True, nogil=True, inline="always")
def _rows_4_to_4(f, a0, a1, a2, a3, b0, b1, b2, b3):
    """(b0, b1, b2, b3)[j] = f(a0[j], a1[j], a2[j], a3[j]) for every j: four rows in, four out. Each
    row is its own 1-D array: written through one array at offsets unknown when compiling, the
    rows might overlap, and LLVM then leaves the loop unvectorized (10x slower)."""
    for j in range(b0.size):
        b0[u(j)], b1[u(j)], b2[u(j)], b3[u(j)] = f(a0[u(j)], a1[u(j)], a2[u(j)], a3[u(j)])


@njit(cache=True, nogil=True, inline="always")
def _rows_add_4_to_4(f, a0, a1, a2, a3, b0, b1, b2, b3):
    """(b0, b1, b2, b3)[j] += f(a0[j], a1[j], a2[j], a3[j]) for every j (see _rows_4_to_4)."""
    for j in range(b0.size):
        d0, d1, d2, d3 = f(a0[u(j)], a1[u(j)], a2[u(j)], a3[u(j)])
        b0[u(j)] += d0
        b1[u(j)] += d1
        b2[u(j)] += d2
        b3[u(j)] += d3


@njit(cache=True, nogil=True, inline="always")
def _rows_add_4_to_2(f, a0, a1, a2, a3, b0, b1):
    """(b0, b1)[j] += f(a0[j], a1[j], a2[j], a3[j]) for every j."""
    for j in range(b0.size):
        d0, d1 = f(a0[u(j)], a1[u(j)], a2[u(j)], a3[u(j)])
        b0[u(j)] += d0
        b1[u(j)] += d1


@njit(cache=True, nogil=True, inline="always")
def _rows_2_to_4(f, a0, a1, b0, b1, b2, b3):
    """(b0, b1, b2, b3)[j] = f(a0[j], a1[j]) for every j."""
    for j in range(b0.size):
        b0[u(j)], b1[u(j)], b2[u(j)], b3[u(j)] = f(a0[u(j)], a1[u(j)])


@njit(cache=True, nogil=True, inline="always")
def _b_low(a0, a1, a2, a3):
    """The first two of B a's four values (_b)."""
    return _b(a0, a1, a2, a3)[:2]


@njit(cache=True, nogil=True, inline="always")
def _b_high(a0, a1, a2, a3):
    """The last two of B a's four values (_b)."""
    return _b(a0, a1, a2, a3)[2:]


@njit(cache=True, nogil=True, inline="always")
def _four_rows(a, first, step, count):
    """The 1-D views a[first + k*step : first + k*step + count] for k = 0..3."""
    return (a[first:first + count], a[first + step:first + step + count],
            a[first + 2 * step:first + 2 * step + count], a[first + 3 * step:first + 3 * step + count])


@njit(cache=True, nogil=True, inline="always")
def _tile_rows(m, first, span):
    """The 16 rows m[xi, first:first + span], xi = 4i + j, as a tuple."""
    return (m[0, first:first + span], m[1, first:first + span], m[2, first:first + span], m[3, first:first + span],
            m[4, first:first + span], m[5, first:first + span], m[6, first:first + span], m[7, first:first + span],
            m[8, first:first + span], m[9, first:first + span], m[10, first:first + span], m[11, first:first + span],
            m[12, first:first + span], m[13, first:first + span], m[14, first:first + span], m[15, first:first + span])


@njit(cache=True, nogil=True)
def input_transform_tile_major(x, ph, pw, th, tw, vt):
    """vt (16, >= P*C): the V = B^T d B of input_transform, row xi holding V[xi]^T, a (P, C) matrix
    (tile-major). B^T d combines four padded rows; (B^T d) B the four columns of each tile."""
    n_img, c_in, h, w = x.shape
    half = tw + 1                                 # padded columns of each parity
    side, span = half * c_in, tw * c_in           # one parity of a padded row; one row of tiles
    row = 2 * side
    padded = np.zeros((2 * th + 2) * row, x.dtype)     # its border stays zero
    t = np.empty(4 * row, x.dtype)                # B^T d for one row of tiles: (4, 2, W'/2, C)
    t_rows = _four_rows(t, 0, row, row)
    t0, t1, t2, t3 = t_rows
    for n in range(n_img):
        for c in range(c_in):
            plane = x[n, c]
            for hh in range(h):
                for ww in range(w):
                    padded[_padded_index(hh + ph, ww + pw, c, row, half, c_in)] = plane[hh, ww]
        for ty in range(th):
            p0, p1, p2, p3 = _four_rows(padded, 2 * ty * row, row, row)
            _rows_4_to_4(_bt, p0, p1, p2, p3, t0, t1, t2, t3)
            v = _tile_rows(vt, (n * th + ty) * span, span)
            for k in range(4):
                even, odd = t_rows[k][:side], t_rows[k][side:]
                _rows_4_to_4(_bt, even[:span], odd[:span], even[c_in:], odd[c_in:],
                             v[4 * k], v[4 * k + 1], v[4 * k + 2], v[4 * k + 3])


@njit(cache=True, nogil=True)
def input_transform_adjoint_tile_major(dvt, ph, pw, th, tw, gx):
    """gx (n, C, H, W) = the sum of B dv B^T over the tiles of dvt (16, >= P*C; row xi: dV[xi]^T),
    each added back where its input tile came from (the adjoint of input_transform_tile_major)."""
    n_img, c_in, h, w = gx.shape
    half = tw + 1
    side, span = half * c_in, tw * c_in
    row = 2 * side
    padded = np.empty((2 * th + 2) * row, gx.dtype)
    t = np.empty(4 * row, gx.dtype)
    t_rows = _four_rows(t, 0, row, row)
    t0, t1, t2, t3 = t_rows
    for n in range(n_img):
        padded[:] = 0
        for ty in range(th):
            t[:] = 0
            dv = _tile_rows(dvt, (n * th + ty) * span, span)
            for k in range(4):                    # dv B^T: each tile's 4 columns, which overlap
                d0, d1, d2, d3 = dv[4 * k], dv[4 * k + 1], dv[4 * k + 2], dv[4 * k + 3]
                even, odd = t_rows[k][:side], t_rows[k][side:]
                _rows_add_4_to_2(_b_low, d0, d1, d2, d3, even[:span], odd[:span])     # columns 2tx, 2tx + 1
                _rows_add_4_to_2(_b_high, d0, d1, d2, d3, even[c_in:], odd[c_in:])   # 2tx + 2, 2tx + 3
            p0, p1, p2, p3 = _four_rows(padded, 2 * ty * row, row, row)
            _rows_add_4_to_4(_b, t0, t1, t2, t3, p0, p1, p2, p3)
        for c in range(c_in):
            plane = gx[n, c]
            for hh in range(h):
                for ww in range(w):
                    plane[hh, ww] = padded[_padded_index(hh + ph, ww + pw, c, row, half, c_in)]


@njit(cache=True, nogil=True)
def output_transform_adjoint_tile_major(gy, th, tw, dmt):
    """dmt (16, >= P*O; row xi: dM[xi]^T) = A dy A^T for every 2x2 tile dy of gy (n, O, Ho, Wo),
    zero past the edge (the adjoint of output_transform, tile-major). Each row of tiles of gy is
    first gathered into g as (2, 2, tw, O): tile row, column parity, tile, channel."""
    n_img, o_ch, ho, wo = gy.shape
    span = tw * o_ch
    g = np.zeros(4 * span, gy.dtype)              # past an odd width: stays zero
    a = np.empty(8 * span, gy.dtype)              # A dy: (4 rows, 2 columns) of (tw, O)
    g_rows = _four_rows(g, 0, span, span)
    a_rows = _four_rows(a, 0, span, span) + _four_rows(a, 4 * span, span, span)
    for n in range(n_img):
        for ty in range(th):
            rows = min(2, ho - 2 * ty)
            if rows < 2:                          # past an odd height: zero
                g[2 * span:] = 0
            for o in range(o_ch):
                for i in range(rows):
                    src = gy[n, o, 2 * ty + i]
                    for col in range(wo):
                        g[u((2 * i + col % 2) * span + (col // 2) * o_ch + o)] = src[col]
            for b in range(2):                    # A dy: each column's 2 rows to 4
                _rows_2_to_4(_a, g_rows[b], g_rows[2 + b], a_rows[b], a_rows[2 + b], a_rows[4 + b], a_rows[6 + b])
            dm = _tile_rows(dmt, (n * th + ty) * span, span)
            for i in range(4):                    # (A dy) A^T: each row's 2 columns to 4
                _rows_2_to_4(_a, a_rows[2 * i], a_rows[2 * i + 1], dm[4 * i], dm[4 * i + 1], dm[4 * i + 2],
                             dm[4 * i + 3])
