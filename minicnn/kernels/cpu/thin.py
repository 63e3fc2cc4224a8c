"""Matrix products of thin matrices, by register tiles: a short inner dimension (``product``), or
two operands of few rows (``product_t``).

Why: a convolution with few input channels multiplies (O, K) weights by (K, L) columns with K
small (a (64, 3, 32, 32) layer: K = 3 * 3 * 3 + 1 = 28 with the bias row), and its input gradient
(K, O) @ (O, L) has the same shape with O = 32 inside; its weight gradient (K + 1, L) @ (L, O)
makes a (28, 32) result out of long dot products. OpenBLAS's kernel is built for large
matrices: it first packs both operands into panels, which a 28-step inner loop or a (28, 32)
result does not repay. The loops below need no packing: they read the columns where im2col
left them (in L2) and the small operand again for each tile (from L1). On one image of that
layer at a time, in cache, one thread: ``product`` took 0.7-0.8x OpenBLAS's time (1.6-2.0 ms for
64 images against 2.2-2.8 ms), ``product_t`` 0.8-0.9x (whole layers: see conv.py).

How, ``thin_product``: c is made 4 rows x 16 columns at a time. The tile's 64 sums stay in 8 AVX
registers (registers.stack_array) while k runs over the inner dimension: each step loads 16
entries of b's row k (2 vectors), broadcasts a[m0 + r, k] for the 4 rows and does 8 vector FMAs.
A tile that would stick out past c's last row or column is moved back to end there instead,
overlapping the tile before (its entries are computed twice, the same numbers), so any c of at
least 4 rows and 16 columns is covered without a remainder loop.

How, ``thin_product_t``: each entry c[m, o] is the dot product of rows a[m] and b[o]. They are
taken 4 rows of a x 3 rows of b at a time, 8 columns a step: 7 vector loads and 12 vector FMAs,
the 12 x 8 partial sums in 12 registers, added up at the end with the last n % 8 columns. Tiles
at c's edges overlap as above, and write only the entries the tile before did not.

Only float32: with float64's 4-lane vectors the same tiles need twice the registers and spill
(1.7x OpenBLAS's time), so float64 products stay with BLAS (``product`` and ``product_t``
choose). The sums' order differs from BLAS's: the results agree to float rounding.
"""
from numba import njit
from numba import uint64 as u

from .blas import gemm
from .registers import stack_array

THIN_MAX_INNER = 32
"""Longest inner dimension taken by ``thin_product``; longer ones go to BLAS, whose packing then
pays."""
THIN_MAX_OUTER = 32
"""Most rows of either operand taken by ``thin_product_t``: in cache, one thread, (28, 900) @
(900, 32) took 0.9x OpenBLAS's time, (48, 1024) @ (1024, 48) 1.0x, (64, 900) @ (900, 64) 1.25x."""
ROWS, LANES = 4, 16
COLS, VECTOR = 3, 8


@njit(cache=True, nogil=True)
def product(a, b, c, n):
    """c[:, :n] (M, n) = a (M, K) @ b[:, :n] (K, n): thin_product when it applies (float32, K <=
    THIN_MAX_INNER, M >= 4, n >= 16), else BLAS. a, b, c C-contiguous (b and c may have rows
    longer than n: a column matrix's gaps, row_stride)."""
    if c.itemsize == 4 and a.shape[1] <= THIN_MAX_INNER and c.shape[0] >= ROWS and n >= LANES:
        thin_product(a, b, c, n)
    else:
        gemm(False, False, a, b[:, :n], 0.0, c[:, :n])


@njit(cache=True, nogil=True, fastmath={"contract"})
def thin_product(a, b, c, n):
    """c[:, :n] = a (M, K) @ b[:, :n] for M >= 4, n >= 16 (see the module docstring)."""
    m, k = a.shape
    for i in range(0, m, ROWS):
        m0 = min(i, m - ROWS)                     # the last tile ends at the last row
        for j in range(0, n, LANES):
            n0 = min(j, n - LANES)
            acc = stack_array(64, c.dtype)        # [row m0 | m0 + 1 | m0 + 2 | m0 + 3] x 16 columns
            for z in range(64):
                acc[u(z)] = 0
            for kk in range(k):
                row = b[kk]
                a0, a1 = a[u(m0), u(kk)], a[u(m0 + 1), u(kk)]
                a2, a3 = a[u(m0 + 2), u(kk)], a[u(m0 + 3), u(kk)]
                for l in range(LANES):
                    v = row[u(n0 + l)]
                    acc[u(l)] += a0 * v
                    acc[u(16 + l)] += a1 * v
                    acc[u(32 + l)] += a2 * v
                    acc[u(48 + l)] += a3 * v
            for r in range(ROWS):
                out = c[m0 + r]
                for l in range(LANES):
                    out[u(n0 + l)] = acc[u(16 * r + l)]


@njit(cache=True, nogil=True)
def product_t(a, b, beta, c, n):
    """c (M, N) = a[:, :n] (M, n) @ b[:, :n]^T (n, N) + beta * c, beta 0 or 1: thin_product_t when
    it applies (float32, 4 <= M <= THIN_MAX_OUTER, 3 <= N <= THIN_MAX_OUTER), else BLAS. a, b, c
    C-contiguous."""
    m, o = c.shape
    if c.itemsize == 4 and ROWS <= m <= THIN_MAX_OUTER and COLS <= o <= THIN_MAX_OUTER:
        thin_product_t(a, b, beta, c, n)
    else:
        gemm(False, True, a[:, :n], b[:, :n], beta, c)


@njit(cache=True, nogil=True, fastmath={"contract"})
def thin_product_t(a, b, beta, c, n):
    """c (M, N) = a[:, :n] @ b[:, :n]^T + beta * c for M >= 4, N >= 3: each entry one long dot
    product, 4 rows of a x 3 rows of b at a time, 8 columns a step (see the module docstring)."""
    m, o = c.shape
    whole = n - n % VECTOR
    for i in range(0, m, ROWS):
        m0 = min(i, m - ROWS)
        a0, a1, a2, a3 = a[m0], a[m0 + 1], a[m0 + 2], a[m0 + 3]
        for j in range(0, o, COLS):
            o0 = min(j, o - COLS)
            b0, b1, b2 = b[o0], b[o0 + 1], b[o0 + 2]
            acc = stack_array(96, c.dtype)        # (4 x 3 entries) x 8 partial sums
            for z in range(96):
                acc[u(z)] = 0
            for p in range(0, whole, VECTOR):
                for l in range(VECTOR):
                    q = u(p + l)
                    x0, x1, x2, x3 = a0[q], a1[q], a2[q], a3[q]
                    y0, y1, y2 = b0[q], b1[q], b2[q]
                    acc[u(l)] += x0 * y0
                    acc[u(8 + l)] += x0 * y1
                    acc[u(16 + l)] += x0 * y2
                    acc[u(24 + l)] += x1 * y0
                    acc[u(32 + l)] += x1 * y1
                    acc[u(40 + l)] += x1 * y2
                    acc[u(48 + l)] += x2 * y0
                    acc[u(56 + l)] += x2 * y1
                    acc[u(64 + l)] += x2 * y2
                    acc[u(72 + l)] += x3 * y0
                    acc[u(80 + l)] += x3 * y1
                    acc[u(88 + l)] += x3 * y2
            for r in range(ROWS):
                if m0 + r < i:                    # a row the tile before made
                    continue
                for s in range(COLS):
                    if o0 + s < j:
                        continue
                    e = (COLS * r + s) * VECTOR
                    total = acc[u(e)]
                    for l in range(1, VECTOR):
                        total += acc[u(e + l)]
                    for q in range(whole, n):     # the last n % 8 columns
                        total += a[m0 + r, q] * b[o0 + s, q]
                    c[m0 + r, o0 + s] = total if beta == 0 else c[m0 + r, o0 + s] + total
