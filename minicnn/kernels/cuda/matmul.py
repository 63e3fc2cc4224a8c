"""Matrix product on the GPU: the textbook tiled shared-memory GEMM, batched, with transposes.

    out[g] = op(a[g]) @ op(b[g])        op(m) = m, or m^T when trans_a / trans_b

One block of TILE x TILE threads computes one TILE x TILE tile of ``out``, one element per thread
(then the next tile its grid-stride loop gives it, when there are more tiles than blocks).
It walks the reduction dimension a tile at a time: the block copies a TILE x TILE tile of op(a) and
one of op(b) into shared memory (each thread copies one element of each), waits for the whole block
(syncthreads), then every thread multiplies a row of the first tile by a column of the second
from fast shared memory. Each element of a and b is read from global memory once per tile of
``out`` instead of once per output element: a TILE-fold saving.

Loads are coalesced (neighbouring threads read neighbouring addresses) also for a transposed
operand: the thread roles are swapped while loading, and the tiles have TILE + 1 columns so that
writing a tile column hits different shared-memory banks.

Split-K: when ``out`` has few tiles but the reduction is long (the weight gradient of a convolution
is (O, C*kh*kw) summed over N*Ho*Wo), the reduction is cut into ``k_splits`` slices computed by
different blocks, which add their partial sums into ``out`` with atomics (the order of those
additions varies from run to run, so the last bits may too).
"""
import math

from numba import cuda

from .launch import MAX_BLOCKS, TILE, empty, fill

PADDED = TILE + 1             # shared tiles have one column more (shapes must be constants in a kernel)
SPLIT_TARGET_BLOCKS = 256      # split the reduction until about this many blocks are busy...
SPLIT_MIN_K = 32 * TILE        # ...but leave each slice at least this long


@cuda.jit(device=True)
def _load(src, g, i, j, i_end, j_end):
    """src[g, i, j], or 0 past the matrix's ragged edge (i >= i_end or j >= j_end)."""
    return src[g, i, j] if i < i_end and j < j_end else src.dtype.type(0)


@cuda.jit(cache=True)
def _gemm(a, b, out, trans_a, trans_b, k_chunk, k_splits):
    a_tile = cuda.shared.array((TILE, PADDED), a.dtype)     # a_tile[r, k] = op(a)[row0 + r, k0 + k]
    b_tile = cuda.shared.array((TILE, PADDED), b.dtype)     # b_tile[k, c] = op(b)[k0 + k, col0 + c]
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    m = out.shape[1]
    n = out.shape[2]
    k_total = b.shape[2] if trans_b else b.shape[1]
    tiles_m = (m + TILE - 1) // TILE
    tiles_n = (n + TILE - 1) // TILE
    for tile in range(cuda.blockIdx.x, out.shape[0] * k_splits * tiles_m * tiles_n, cuda.gridDim.x):
        col0 = tile % tiles_n * TILE              # tile = ((g * k_splits + split) * tiles_m + i) * tiles_n + j
        row0 = tile // tiles_n % tiles_m * TILE
        split = tile // (tiles_n * tiles_m) % k_splits
        g = tile // (tiles_n * tiles_m * k_splits)
        k_begin = split * k_chunk
        k_end = min(k_begin + k_chunk, k_total)
        acc = out.dtype.type(0)
        for k0 in range(k_begin, k_end, TILE):
            # each thread copies one element of each tile; tx walks the axis contiguous in memory
            if trans_a:               # op(a)[r, k] = a[k, r]
                a_tile[tx, ty] = _load(a, g, k0 + ty, row0 + tx, k_end, m)
            else:
                a_tile[ty, tx] = _load(a, g, row0 + ty, k0 + tx, m, k_end)
            if trans_b:               # op(b)[k, c] = b[c, k]
                b_tile[tx, ty] = _load(b, g, col0 + ty, k0 + tx, n, k_end)
            else:
                b_tile[ty, tx] = _load(b, g, k0 + ty, col0 + tx, k_end, n)
            cuda.syncthreads()        # the tiles are complete
            for kk in range(TILE):
                acc += a_tile[ty, kk] * b_tile[kk, tx]
            cuda.syncthreads()        # everyone is done with them before they are overwritten
        row = row0 + ty
        col = col0 + tx
        if row < m and col < n:
            if k_splits > 1:
                cuda.atomic.add(out, (g, row, col), acc)
            else:
                out[g, row, col] = acc


def _auto_splits(tiles, k):
    """How many slices to cut a reduction of length k into when ``out`` has ``tiles`` tiles."""
    if tiles >= SPLIT_TARGET_BLOCKS:
        return 1
    return max(1, min(math.ceil(SPLIT_TARGET_BLOCKS / tiles), k // SPLIT_MIN_K))


def matmul(a, b, out=None, trans_a=False, trans_b=False, k_splits=None):
    """out = op(a) @ op(b) for C-contiguous device arrays of one dtype: (M, K) @ (K, N) -> (M, N),
    or batched (G, M, K) @ (G, K, N) -> (G, M, N); with trans_a, a is stored as (K, M) (or
    (G, K, M)), with trans_b, b as (N, K). ``out`` (written, never read) is returned, allocated
    when None. ``k_splits``: slices of the reduction (None: chosen from the sizes)."""
    batched = a.ndim == 3
    a3 = a if batched else a.reshape(1, *a.shape)
    b3 = b if batched else b.reshape(1, *b.shape)
    g = a3.shape[0]
    m, k = (a3.shape[2], a3.shape[1]) if trans_a else (a3.shape[1], a3.shape[2])
    kb, n = (b3.shape[2], b3.shape[1]) if trans_b else (b3.shape[1], b3.shape[2])
    if b3.shape[0] != g or kb != k or a.dtype != b.dtype:
        raise ValueError(f"matmul: cannot multiply {'transposed ' if trans_a else ''}{tuple(a.shape)} "
                         f"{a.dtype} by {'transposed ' if trans_b else ''}{tuple(b.shape)} {b.dtype}: the "
                         "batch sizes, the inner dimensions and the dtypes must agree")
    if out is None:
        out = empty((g, m, n) if batched else (m, n), a.dtype)
    if tuple(out.shape) != ((g, m, n) if batched else (m, n)) or out.dtype != a.dtype:
        raise ValueError(f"matmul: out has shape {tuple(out.shape)} {out.dtype}, expected "
                         f"{(g, m, n) if batched else (m, n)} {a.dtype}")
    if out.size == 0:
        return out
    out3 = out.reshape(g, m, n)
    tiles_m, tiles_n = math.ceil(m / TILE), math.ceil(n / TILE)
    splits = k_splits or _auto_splits(g * tiles_m * tiles_n, k)
    chunk = max(1, math.ceil(math.ceil(k / splits) / TILE)) * TILE     # whole tiles per slice
    splits = max(1, math.ceil(k / chunk))
    if splits > 1 or k == 0:
        fill(out3, 0)
    if k > 0:
        blocks = min(g * splits * tiles_m * tiles_n, MAX_BLOCKS)
        _gemm[blocks, (TILE, TILE)](a3, b3, out3, trans_a, trans_b, chunk, splits)
    return out
