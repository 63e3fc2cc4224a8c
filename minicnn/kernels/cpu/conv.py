"""2-D convolution on the CPU: im2col + BLAS, or Winograd F(2x2, 3x3) + BLAS, a chunk of the batch
at a time.

Why these algorithms: a convolution is a matrix product once every receptive field is copied into
a column (im2col, im2col.py). The product then runs in the BLAS GEMM NumPy links to, which is close
to the machine's peak; what is left to us is moving memory. With K = C/groups * kh * kw rows per
group and L = Ho * Wo pixels per image, for each chunk of n images:

    forward     cols = im2col(x)                  (C*kh*kw, L*n)    the image index fastest
                rows = W @ cols                   (O, L*n)          one GEMM per group
                y    = rows_to_nchw(rows) + b     (n, O, Ho, Wo)
    backward    rows = nchw_to_rows(gy)           (O, L*n)
                gW  += (cols @ rows^T)^T          (O, K)            OpenBLAS is faster this way round
                gx   = col2im(W^T @ rows)         (n, C, H, W)
                gb   = gy summed over batch and pixels

Large images (PER_IMAGE_MIN_PIXELS) take one column matrix per image instead, whose product is
already the image's (O, Ho*Wo) output, with no layout change. With one group the bias rides in the
products: a row of ones below the columns makes [W | b] @ [cols; 1] add b (large images), and
gy @ [cols; 1]^T give gb as its last column, so that neither takes a pass of its own.

A 3x3 kernel with stride 1 and dilation 1 (most layers of VGG and ResNet) takes Winograd's
F(2x2, 3x3) instead when it has at least WINOGRAD_MIN_CHANNELS (12) input channels: the same three
products, done on transformed 4x4 tiles with 2.25x fewer multiplications (winograd.py). With only
a few input channels the products are too thin for that to pay: the transforms cost more than
they save.

A layer with few output channels (at most direct.DIRECT_MAX_OUT_CHANNELS, 8), stride 1, one group
and large images (LeNet-5's C1) takes its weight gradient by direct loops instead (direct.py):
the product cols @ gy^T has only O columns there, a shape on which BLAS is slow, and the loops
need no column matrix (C1's forward and backward 0.83-0.89x the time on one thread).

Thin products run in register-tiled loops of minicnn's own instead of BLAS, in float32 (thin.py):
those whose inner dimension is short (at most thin.THIN_MAX_INNER, 32: the forward of a layer
with few input channels, K = 27 for 3 x 3 x 3; the input gradient W^T @ gy of one with few output
channels), and the weight gradient when both K + 1 and O (per group) are at most
thin.THIN_MAX_OUTER (32). OpenBLAS packs its operands for large matrices, which does not pay
here. Forward and backward of the (64, 3, 32, 32) layers and LeNet-5's C1 took 0.80-0.85x the
time with the first, C3 0.90x, and the (64, 3, 32, 32) layers 0.89-0.96x more with the second
(one thread, turn by turn against BLAS for those products). Winograd's products with an inner
dimension of at most 32 (U @ V over C input channels, dM^T @ U over O output channels) take the
first too: forward and backward 0.86-0.88x the time on (64, 16, 32, 32) -> 16 and (32, 32, 32,
32) -> 32.

Chunks and threads (chunks.py): each chunk's intermediates fit in a core's L2 cache, and with
several Numba threads each chunk runs on one worker thread, BLAS on one thread. Each thread runs
one compiled loop over the chunks it takes (``_forward_block``, ``_backward_per_image``, ...) that
calls the GEMM itself (blas.py): from Python, each of its kernels and products would give the GIL
up and take it back, and two threads then wait for each other (on two threads LeNet-5's C3 took
2.05 ms forward and backward with one compiled function per chunk, 2.6-5.8 ms with one Python call
per kernel).

The intermediates are scratch space: they live in per-thread buffers reused from call to call,
because a fresh array of many megabytes costs a page fault per 4 KiB on every call; each thread's
loop gets them flat, sized for the largest chunk, and views each chunk's matrices at their start
(``_matrix``, ``_tile``). Only the returned arrays are new. Buffers and outputs start on a cache
line (scratch.aligned_empty). Column matrices whose rows are a multiple of 2 KiB long get a gap
between rows (``row_stride``: 4K aliasing slowed OpenBLAS 1.5-2x on 32x32 float32 images).
``release_buffers()`` frees the scratch space (and stops the workers).

Arguments: x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) or None; stride, padding, dilation are
(h, w) pairs of ints (padding symmetric: asymmetric padding is F.pad's job); float32 or float64,
the output has the input's dtype. Shapes are assumed checked by the caller (minicnn.functional).
"""
import numpy as np
from numba import njit

from ..scratch import CACHE_LINE, ScratchBuffers, aligned_empty
from ..shape_rules import conv_output_size
from . import direct, winograd
from .blas import gemm
from .chunks import add_in_order, next_chunk, over_chunks, part_of, stop_workers
from .im2col import (channel_sums, col2im, copy_rows, im2col, nchw_to_rows, pad_image, rows_to_nchw,
                     widen)
from .thin import product, product_t

_scratch = ScratchBuffers(aligned_empty)
_buffer = _scratch.get


def release_buffers():
    """Free the scratch buffers of the calling thread and stop the worker threads, whose buffers go
    with them (both come back on the next call)."""
    _scratch.release()
    stop_workers()


WINOGRAD_MIN_CHANNELS = 12
"""Input channels from which a 3x3, stride-1, undilated convolution uses Winograd's F(2x2, 3x3).
Measured on batch-64 layers of 4x4 to 32x32 maps, one thread (benchmarks/README.md): with 4 or 8
channels Winograd took 1.0-1.9x im2col's time, with 12 0.89x, with 16 to 64 0.6-0.82x (4x4 maps
with 128-256 channels: 1.03x, where im2col's GEMMs are large already)."""


def uses_winograd(w_shape, stride, dilation, groups):
    """True when the convolution runs as Winograd's F(2x2, 3x3) (see the module docstring)."""
    return (tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and groups == 1 and w_shape[1] >= WINOGRAD_MIN_CHANNELS)


PER_IMAGE_MIN_PIXELS = 512
"""Output pixels per image from which im2col makes one column matrix per image (one group only)."""


def uses_direct_weight_grad(out_channels, stride, groups, out_hw):
    """True when the weight gradient is taken by direct loops (direct.py): few output channels,
    stride 1, one group, large images."""
    return (out_channels <= direct.DIRECT_MAX_OUT_CHANNELS and tuple(stride) == (1, 1)
            and _per_image(groups, out_hw))


def _per_image(groups, out_hw):
    """True: per-image column matrices (n, K, L); False: one matrix for the chunk (K, L*n)."""
    return groups == 1 and out_hw[0] * out_hw[1] >= PER_IMAGE_MIN_PIXELS


def _block_size(n, per_image):
    """(blocks, images per block) for a chunk of n images: n blocks of one image, or one of n."""
    return (n, 1) if per_image else (1, n)


def _padded(x_shape, padding, per_image, dtype):
    """This thread's 'padded' buffer: room for one channel of a block of zero-padded images
    (im2col.py)."""
    n, _, h, w = x_shape
    images = _block_size(n, per_image)[1]
    return _buffer("padded", ((h + 2 * padding[0]) * (w + 2 * padding[1]) * images,), dtype)


def _matrix_buffer(slot, rows, entries, dtype):
    """This thread's buffer ``slot``, flat, with room for one matrix of ``rows`` rows of up to
    ``entries`` entries and the gaps between them (row_stride); _matrix views it."""
    most = entries + (CACHE_LINE + ROW_GAP_BYTES) // np.dtype(dtype).itemsize    # >= row_stride
    return _buffer(slot, (rows * most,), dtype)


ALIASED_ROW_BYTES = 2048
"""Rows of a multiple of this many bytes get ROW_GAP_BYTES more between them (row_stride)."""
ROW_GAP_BYTES = 128


@njit(cache=True, nogil=True)
def _row_stride(entries, itemsize, gaps):
    """row_stride's rule, for compiled code too (which gets its constants as arguments: _gaps())."""
    line, aliased_bytes, gap = gaps[0] // itemsize, gaps[1], gaps[2] // itemsize
    entries = -(-entries // line) * line              # each row starts a cache line
    return entries + (gap if (entries * itemsize) % aliased_bytes == 0 else 0)


def row_stride(entries, dtype):
    """Entries from one row of a scratch matrix to the next, for rows of ``entries`` entries.

    Rows a multiple of 2 KiB apart (32x32 float32 images: 4 KiB) fall on the same few sets of the
    L1 cache, and a load from an address 4 KiB after a pending store waits for it (4K aliasing):
    OpenBLAS then ran the (32, 28) @ (28, 1024) products of a (64, 3, 32, 32) layer 1.5-2x slower
    than with 1056 entries between rows. Rows also start on a cache line (in a buffer that does,
    scratch.aligned_empty): the dilated (64, 3, 32, 32) layer's 900-entry rows (3600 bytes), 912
    apart, made its forward and backward 0.87-0.90x as long. The columns (and, in the backward,
    each image's gy, copied) get that layout; the output keeps its own."""
    return _row_stride(entries, np.dtype(dtype).itemsize, _gaps())


def _gaps():
    """(CACHE_LINE, ALIASED_ROW_BYTES, ROW_GAP_BYTES), passed to the compiled chunk loops."""
    return CACHE_LINE, ALIASED_ROW_BYTES, ROW_GAP_BYTES


@njit(cache=True, nogil=True, inline="always")
def _matrix(flat, rows, entries, gaps):
    """The matrix (1, rows, row_stride(entries)) at the start of the flat buffer: one block, as
    im2col and col2im take it."""
    stride = _row_stride(entries, flat.itemsize, gaps)
    return flat[:rows * stride].reshape(1, rows, stride)


@njit(cache=True, nogil=True, inline="always")
def _columns(x, geometry, padded, cols):
    """im2col of x (n, C, H, W) into cols (blocks, K [+ 1], L*images), K = C*kh*kw. A row of ones
    below (when cols has K + 1 rows) makes W @ cols add the bias from an extra column of W, and
    gy @ cols^T give the bias gradient as its extra column (see _with_bias_column)."""
    im2col(x, *geometry, padded, cols)
    k = x.shape[1] * geometry[0] * geometry[1]
    if cols.shape[1] > k:
        cols[:, k] = 1


def _with_bias_column(w, bias):
    """[W | b] (O, C*kh*kw + 1): the weights as a matrix and the bias as one more column, for
    columns with a row of ones. For large images this folds the bias into the product: adding it
    in a pass of its own over the output cost up to 1.5 ms on a (64, 32, 32, 32) output."""
    return np.concatenate([w.reshape(w.shape[0], -1), bias[:, None]], axis=1)


def _tile_buffer(slot, rows, cols, dtype):
    """This thread's buffer ``slot`` as 16 rows of rows * cols entries and a 64-byte gap, for the
    transforms (see winograd.py); _tile makes the 16 (rows, cols) matrices of the products from
    it: (C, P) channel-major, or (P, C) tile-major."""
    return _buffer(slot, (16, rows * cols + 64 // np.dtype(dtype).itemsize), dtype)


@njit(cache=True, nogil=True, inline="always")
def _tile(flat, xi, rows, cols):
    """Matrix xi (rows, cols) of the 16 in the tile buffer ``flat`` (see _tile_buffer)."""
    return flat[xi, :rows * cols].reshape(rows, cols)


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y (N, O, Ho, Wo) = the cross-correlation of x with w, plus b."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    o = w.shape[0]
    out_hw = conv_output_size(x.shape[2:], w.shape[2:], stride, padding, dilation)
    bias = None if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    y = aligned_empty((x.shape[0], o, *out_hw), x.dtype)
    if uses_winograd(w.shape, stride, dilation, groups):
        _winograd_forward(x, w, np.zeros(o, x.dtype) if bias is None else bias, padding, y)
    else:
        _im2col_forward(x, w, bias, stride, padding, dilation, groups, y)
    return y


def _im2col_forward(x, w, bias, stride, padding, dilation, groups, y):
    """y = rows_to_nchw(W @ im2col(x)) + bias, chunk by chunk; for large images y[n] = [W | b] @
    [cols[n]; 1], one product per image, already in y's layout. bias: (O,) or None."""
    (n, o), kernel, out_hw = y.shape[:2], w.shape[2:], y.shape[2:]
    per_image = _per_image(groups, out_hw)
    k, pixels = w[0].size, out_hw[0] * out_hw[1]
    geometry = (*kernel, *stride, *padding, *dilation, *out_hw)
    y_ncl = y.reshape(n, o, pixels)
    if per_image:
        w_mat = w.reshape(o, k) if bias is None else _with_bias_column(w, bias)
    else:
        w_groups = w.reshape(groups, o // groups, k)
        bias = np.zeros(o, x.dtype) if bias is None else bias    # rows_to_nchw adds it in its pass

    def work(plan, go, images):
        shape = (images, *x.shape[1:])
        padded = _padded(shape, padding, per_image, x.dtype)
        if per_image:                             # one image's columns at a time
            cols = _matrix_buffer("cols", w_mat.shape[1], pixels, x.dtype)
            _forward_per_image(plan, go, x, w_mat, geometry, _gaps(), padded, cols, y_ncl)
        else:
            cols = _matrix_buffer("cols", k * groups, pixels * images, x.dtype)
            rows = _matrix_buffer("rows", o, pixels * images, x.dtype)
            _forward_block(plan, go, x, w_groups, bias, geometry, _gaps(), padded, cols, rows, y_ncl)

    over_chunks(work, n, x.shape[1] * kernel[0] * kernel[1] * pixels, x.itemsize)


@njit(cache=True, nogil=True)
def _forward_per_image(plan, go, x, w_mat, geometry, gaps, padded, cols, y):
    """For each chunk this thread takes (chunks.next_chunk), image by image: cols = im2col(x[m]),
    then y[m] (O, L) = w_mat (O, K [+ 1]) @ cols; with K + 1 columns, w_mat's last one is the bias
    and cols' last row ones. padded, cols: this thread's flat buffers, one image's. Image by image,
    the product finds the columns im2col just wrote in cache: with few channels (K = 27) that made
    a (64, 3, 32, 32) layer's forward and backward 8-13% faster than im2col for the whole chunk
    first (the same numbers)."""
    pixels = y.shape[2]
    c = _matrix(cols, w_mat.shape[1], pixels, gaps)
    index, start, stop = next_chunk(plan, go, -1)
    while index >= 0:
        for m in range(start, stop):
            _columns(x[m:m + 1], geometry, padded, c)
            product(w_mat, c[0], y[m], pixels)
        index, start, stop = next_chunk(plan, go, index)


@njit(cache=True, nogil=True)
def _forward_block(plan, go, x, w_groups, bias, geometry, gaps, padded, cols, rows, y):
    """For each chunk this thread takes, as one block: rows (O, L*n) = W @ cols, one product per
    group, then y (n, O, L) = rows_to_nchw(rows) + bias."""
    groups, og, k = w_groups.shape
    o, pixels = y.shape[1], y.shape[2]
    index, start, stop = next_chunk(plan, go, -1)
    while index >= 0:
        ln = (stop - start) * pixels
        c = _matrix(cols, groups * k, ln, gaps)
        r = _matrix(rows, o, ln, gaps)[0]
        _columns(x[start:stop], geometry, padded, c)
        for g in range(groups):
            product(w_groups[g], c[0, g * k:(g + 1) * k], r[g * og:(g + 1) * og], ln)
        rows_to_nchw(r, bias, y[start:stop])
        index, start, stop = next_chunk(plan, go, index)


def _winograd_forward(x, w, bias, padding, y):
    """y = A^T [U @ V] A + bias with U = G w G^T, V = B^T x B (winograd.py), chunk by chunk. The
    forward pass keeps V and M channel-major, (C, P) and (O, P): its output transform then writes
    y plane by plane (laid out tile-major like the backward pass's, the forward took 20% longer)."""
    (n, o), c, (th, tw) = y.shape[:2], x.shape[1], winograd.tiles(y.shape[2:])
    u = np.empty((16, o, c), x.dtype)
    winograd.weight_transform(w, u)

    def work(plan, go, images):
        v = _tile_buffer("cols", c, images * th * tw, x.dtype)
        m = _tile_buffer("rows", o, images * th * tw, x.dtype)
        _winograd_forward_chunks(plan, go, x, u, bias, padding, th, tw, v, m, y)

    over_chunks(work, n, 16 * (c + o) * th * tw, x.itemsize)


@njit(cache=True, nogil=True)
def _winograd_forward_chunks(plan, go, x, u, bias, padding, th, tw, v, m, y):
    """For each chunk this thread takes: V = B^T x B, the 16 products M[xi] = U[xi] @ V[xi],
    y = A^T M A + bias. v and m: this thread's tile buffers (16, >= C*P) and (16, >= O*P)."""
    o, c = u.shape[1], u.shape[2]
    index, start, stop = next_chunk(plan, go, -1)
    while index >= 0:
        p = (stop - start) * th * tw
        winograd.input_transform(x[start:stop], padding[0], padding[1], th, tw, v)
        for xi in range(16):
            product(u[xi], _tile(v, xi, c, p), _tile(m, xi, o, p), p)
        winograd.output_transform(m, bias, th, tw, y[start:stop])
        index, start, stop = next_chunk(plan, go, index)


def _backward(x, x_shape, w, gy, stride, padding, dilation, groups, need_gx, need_gw, need_gb=False):
    """(gx, gw, gb), each None when not needed; gb may also be None when needed: the caller then
    sums it itself. x is only read when need_gw."""
    if uses_winograd(w.shape, stride, dilation, groups):
        return *_winograd_backward(x, x_shape, w, gy, padding, need_gx, need_gw), None
    return _im2col_backward(x, x_shape, w, gy, stride, padding, dilation, groups, need_gx, need_gw, need_gb)


def _im2col_backward(x, x_shape, w, gy, stride, padding, dilation, groups, need_gx, need_gw, need_gb):
    """gW = (im2col(x) @ rows^T)^T, gx = col2im(W^T @ rows) with rows = nchw_to_rows(gy), chunk by
    chunk; for large images gW = (sum of cols[n] @ gy[n]^T)^T and gx = col2im(W^T @ gy[n]). With one
    group, gb comes with gW from the row of ones below the columns (None otherwise). The chunks'
    parts of gW are added up in chunk order (chunks.add_in_order)."""
    (n, o), out_hw, kernel = gy.shape[:2], gy.shape[2:], w.shape[2:]
    k, pixels = w[0].size, out_hw[0] * out_hw[1]
    per_image = _per_image(groups, out_hw)
    direct_gw = (need_gw and uses_direct_weight_grad(o, stride, groups, out_hw)
                 and bool(np.isfinite(x).all()))        # see direct.py: 0 * inf in a dropped pixel
    ones = int(need_gw and need_gb and groups == 1)
    geometry = (*kernel, *stride, *padding, *dilation, *out_hw)
    w_t = np.ascontiguousarray(w.reshape(groups, o // groups, k).transpose(0, 2, 1))   # W^T per group
    gx = aligned_empty(x_shape, gy.dtype) if need_gx else np.empty((0, *x_shape[1:]), gy.dtype)
    x = x if need_gw else np.empty((0, *x_shape[1:]), gy.dtype)      # no entries: not needed
    gy_ncl = gy.reshape(n, o, pixels)
    gw_shape = (groups, k + ones, o // groups)                      # gW^T per group, as made
    total = np.empty(gw_shape if need_gw and n > 0 else (0, 0, 0), gy.dtype)     # gW's sum
    offsets, xp_size, gyw_shape = (direct.layout(x_shape, o, kernel, padding, dilation, out_hw) if direct_gw
                                   else (np.empty(0, np.int64), 0, (0, 0)))

    def work(plan, go, images):
        padded = _padded((images, *x_shape[1:]), padding, per_image, gy.dtype)
        entries = pixels * (1 if per_image else images)    # per image: one image's columns and gy
        cols = _matrix_buffer("cols", groups * k + ones, entries, gy.dtype)
        rows = _matrix_buffer("rows", o, entries, gy.dtype)
        part = _buffer("part", total.shape, gy.dtype)
        if per_image:
            xp = _buffer("direct_x", (xp_size,), gy.dtype)
            gyw = _buffer("direct_gy", gyw_shape, gy.dtype)
            _backward_per_image(plan, go, x, w_t[0], gy_ncl, geometry, _gaps(), padded, cols, rows,
                                part.reshape(part.shape[1:]), total.reshape(total.shape[1:]), gx,
                                offsets, xp, gyw)
        else:
            _backward_block(plan, go, x, w_t, gy_ncl, geometry, _gaps(), padded, cols, rows, part, total, gx)

    over_chunks(work, n, groups * k * pixels, gy.itemsize)
    gw = gb = None
    if need_gw:
        gw = total if n > 0 else np.zeros(gw_shape, gy.dtype)       # no image: zeros
        gw = gw.transpose(0, 2, 1)                # summed as the products came, transposed once
        if ones:
            gb = np.ascontiguousarray(gw[0, :, k])
        gw = np.ascontiguousarray(gw[..., :k]).reshape(w.shape)
    return (gx if need_gx else None), gw, gb


@njit(cache=True, nogil=True)
def _backward_per_image(plan, go, x, w_t, gy, geometry, gaps, padded, cols, rows, part, gw, gx,
                        offsets, xp, gyw):
    """For each chunk of large images this thread takes, image by image (as _forward_per_image),
    gy[m] (O, L): its part of gw^T (K [+ 1], O) = sum of cols @ gy[m]^T with cols = im2col(x[m]), in
    gw itself for chunk 0, else in ``part`` and added into gw in chunk order (chunks.part_of,
    add_in_order), when x has entries (the last row the bias gradient when gw has K + 1); gx[m]
    = col2im(W^T @ gy[m]) when gx has entries, W^T: w_t (K, O). gcols (1, K, L) lies over the
    memory of cols, written once cols has served. When the columns' rows have a gap (row_stride),
    each gy[m] is first copied into rows, whose rows have it too. With tap offsets (few output
    channels, direct.py), the weight gradient is taken by direct loops instead, over x[m] padded
    into xp and gy[m] widened into gyw (both zeroed here first)."""
    k, o = w_t.shape
    pixels = gy.shape[2]
    ph, pw, ho = geometry[4], geometry[5], geometry[8]
    length = gyw.shape[1]
    if offsets.size > 0:
        xp[:] = 0
        gyw[:] = 0
    c = _matrix(cols, part.shape[0], pixels, gaps)
    gcols = _matrix(cols, k, pixels, gaps)
    r = _matrix(rows, o, pixels, gaps)[0]
    copy = r.shape[1] != pixels
    g = r                                         # gy[m], in r's gapped rows or where it is
    index, start, stop = next_chunk(plan, go, -1)
    while index >= 0:
        gw_part = part_of(index, part, gw)
        for m in range(start, stop):
            if copy and (gx.size > 0 or offsets.size == 0):      # the direct loops read gy[m]
                copy_rows(gy[m], r)
            else:
                g = gy[m]
            if x.size > 0 and offsets.size > 0:
                pad_image(x, m, ph, pw, xp)
                widen(gy[m], ho, x.shape[3] + 2 * pw, gyw)
                direct.weight_grad_image(xp, gyw, offsets, k, length, m == start, gw_part)
            elif x.size > 0:                      # before gx: both use the cols buffer
                _columns(x[m:m + 1], geometry, padded, c)
                product_t(c[0], g, 0.0 if m == start else 1.0, gw_part, pixels)
            if gx.size > 0:
                product(w_t, g, gcols[0], pixels)
                col2im(gcols, *geometry, padded, gx[m:m + 1])
        if x.size > 0:
            add_in_order(plan, index, part, gw)
        index, start, stop = next_chunk(plan, go, index)


@njit(cache=True, nogil=True)
def _backward_block(plan, go, x, w_t, gy, geometry, gaps, padded, cols, rows, part, gw, gx):
    """For each chunk this thread takes, as one block, gy[start:stop] (n, O, L) -> rows (O, L*n):
    its part of gw (groups, K [+ 1], O/groups) = cols @ rows^T per group (OpenBLAS is faster this
    way round), made and added as in _backward_per_image, when x has entries; gx = col2im(W^T @
    rows) when gx has entries, gcols (1, C*kh*kw, L*n) over the memory of cols."""
    groups, k, og = w_t.shape
    o, pixels = gy.shape[1], gy.shape[2]
    index, start, stop = next_chunk(plan, go, -1)
    while index >= 0:
        ln = (stop - start) * pixels
        r = _matrix(rows, o, ln, gaps)[0]
        nchw_to_rows(gy[start:stop], r)
        if x.size > 0:
            ones = part.shape[1] - k              # the row of ones, when there is one (one group)
            c = _matrix(cols, groups * k + ones, ln, gaps)
            _columns(x[start:stop], geometry, padded, c)
            gw_part = part_of(index, part, gw)
            for g in range(groups):
                product_t(c[0, g * k:(g + 1) * k + ones], r[g * og:(g + 1) * og], 0.0, gw_part[g], ln)
        if gx.size > 0:
            gcols = _matrix(cols, groups * k, ln, gaps)
            for g in range(groups):
                product(w_t[g], r[g * og:(g + 1) * og], gcols[0, g * k:(g + 1) * k], ln)
            col2im(gcols, *geometry, padded, gx[start:stop])
        if x.size > 0:
            add_in_order(plan, index, part, gw)
        index, start, stop = next_chunk(plan, go, index)


def _winograd_backward(x, x_shape, w, gy, padding, need_gx, need_gw):
    """dM = A gy A^T; gW = G^T [dM @ V^T] G; gx = B [U^T @ dM] B^T added up over the tiles
    (winograd.py), chunk by chunk, tile-major: dU = (dM^T)^T @ V^T and dV^T = dM^T @ U, dU's parts
    added up in chunk order (chunks.add_in_order)."""
    (n, o), (c, th, tw) = gy.shape[:2], (x_shape[1], *winograd.tiles(gy.shape[2:]))
    u = np.empty((16, o, c), gy.dtype)
    if need_gx:
        winograd.weight_transform(w, u)
    gx = aligned_empty(x_shape, gy.dtype) if need_gx else np.empty((0, *x_shape[1:]), gy.dtype)
    x = x if need_gw else np.empty((0, *x_shape[1:]), gy.dtype)      # no entries: not needed
    du = np.empty((16, o, c) if need_gw and n > 0 else (0, 0, 0), gy.dtype)      # dU's sum

    def work(plan, go, images):
        dmt = _tile_buffer("rows", images * th * tw, o, gy.dtype)
        vt = _tile_buffer("cols", images * th * tw, c, gy.dtype)    # V^T, then dV^T: the same memory
        part = _buffer("part", du.shape, gy.dtype)
        _winograd_backward_chunks(plan, go, x, u, gy, padding, th, tw, dmt, vt, part, du, gx)

    over_chunks(work, n, 16 * (c + o) * th * tw, gy.itemsize)
    gw = None
    if need_gw:
        gw = np.empty(w.shape, gy.dtype)
        winograd.weight_transform_adjoint(du if n > 0 else np.zeros((16, o, c), gy.dtype), gw)
    return (gx if need_gx else None), gw


@njit(cache=True, nogil=True)
def _winograd_backward_chunks(plan, go, x, u, gy, padding, th, tw, dmt, vt, part, du, gx):
    """For each chunk this thread takes: dM^T = (A gy A^T)^T; its part of du, [xi] = (dM[xi]^T)^T
    @ V[xi]^T, made and added as in _backward_per_image, when x has entries; gx = B [U[xi]^T @
    dM[xi]] B^T when gx has entries, as dV[xi]^T = dM[xi]^T @ U[xi] in vt's memory (after the
    part is done with V^T). dmt (16, >= P*O) and vt (16, >= P*C): this thread's tile buffers."""
    o, c = u.shape[1], u.shape[2]
    index, start, stop = next_chunk(plan, go, -1)
    while index >= 0:
        p = (stop - start) * th * tw
        winograd.output_transform_adjoint_tile_major(gy[start:stop], th, tw, dmt)
        if x.size > 0:
            winograd.input_transform_tile_major(x[start:stop], padding[0], padding[1], th, tw, vt)
            du_part = part_of(index, part, du)
            for xi in range(16):
                gemm(True, False, _tile(dmt, xi, p, o), _tile(vt, xi, p, c), 0.0, du_part[xi])
        if gx.size > 0:
            for xi in range(16):
                product(_tile(dmt, xi, p, o), u[xi], _tile(vt, xi, p, c), c)
            winograd.input_transform_adjoint_tile_major(vt, padding[0], padding[1], th, tw, gx[start:stop])
        if x.size > 0:
            add_in_order(plan, index, part, du)
        index, start, stop = next_chunk(plan, go, index)


def conv2d_backward(x, w, gy, stride, padding, dilation, groups, needs=(True, True, True)):
    """(gx, gw, gb): the gradients of conv2d_forward w.r.t. x, w and b given gy (N, O, Ho, Wo).

    ``needs`` says which of the three to compute (None in their place otherwise); computing them
    together shares the layout change of gy, chunk by chunk.
    """
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    gy = np.ascontiguousarray(gy, dtype=x.dtype)
    gx = gw = gb = None
    if needs[0] or needs[1]:
        gx, gw, gb = _backward(x, x.shape, w, gy, stride, padding, dilation, groups, *needs)
    if needs[2] and gb is None:
        gb = conv2d_bias_grad(gy)
    return gx, gw, gb


def conv2d_input_grad(gy, w, x_shape, stride, padding, dilation, groups):
    """gx (x_shape) = col2im(W^T gy): the input gradient, which is also conv_transpose2d(gy, w)."""
    gy = np.ascontiguousarray(gy)
    w = np.ascontiguousarray(w, dtype=gy.dtype)
    return _backward(None, tuple(x_shape), w, gy, stride, padding, dilation, groups, True, False)[0]


def conv2d_weight_grad(x, gy, w_shape, stride, padding, dilation, groups):
    """gw (w_shape) = gy cols^T, summed over the batch."""
    x = np.ascontiguousarray(x)
    gy = np.ascontiguousarray(gy, dtype=x.dtype)
    w = np.empty(w_shape, x.dtype)                # only its shape is read
    return _backward(x, x.shape, w, gy, stride, padding, dilation, groups, False, True)[1]


def conv2d_bias_grad(gy):
    """gb (O,) = gy summed over batch and positions (in float64, then gy's dtype)."""
    gy = np.ascontiguousarray(gy)
    return channel_sums(gy.reshape(*gy.shape[:2], gy.shape[2] * gy.shape[3])).astype(gy.dtype)
