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

Chunks and threads (chunks.py): each chunk's intermediates fit in a core's L2 cache, and with
several Numba threads each chunk runs on one worker thread, BLAS on one thread.

The intermediates are scratch space: they live in per-thread buffers reused from call to call,
because a fresh array of many megabytes costs a page fault per 4 KiB on every call. Only the
returned arrays are new. ``release_buffers()`` frees the scratch space (and stops the workers).

Arguments: x (N, C, H, W), w (O, C/groups, kh, kw), b (O,) or None; stride, padding, dilation are
(h, w) pairs of ints (padding symmetric: asymmetric padding is F.pad's job); float32 or float64,
the output has the input's dtype. Shapes are assumed checked by the caller (minicnn.functional).
"""
import numpy as np

from ..scratch import ScratchBuffers
from ..shape_rules import conv_output_size
from . import winograd
from .chunks import over_chunks, stop_workers
from .im2col import channel_sums, col2im, im2col, nchw_to_rows, rows_to_nchw

_scratch = ScratchBuffers(np.empty)
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


def _grouped(a, groups):
    """(rows, cols) -> (groups, rows / groups, cols): the batch of per-group matrices."""
    return a.reshape(groups, a.shape[0] // groups, a.shape[1])


PER_IMAGE_MIN_PIXELS = 512
"""Output pixels per image from which im2col makes one column matrix per image (one group only)."""


def _per_image(groups, out_hw):
    """True: per-image column matrices (n, K, L); False: one matrix for the chunk (K, L*n)."""
    return groups == 1 and out_hw[0] * out_hw[1] >= PER_IMAGE_MIN_PIXELS


def _block_size(n, per_image):
    """(blocks, images per block) for a chunk of n images: n blocks of one image, or one of n."""
    return (n, 1) if per_image else (1, n)


def _padded(x_shape, padding, per_image, dtype):
    """This thread's 'padded' buffer: room for one block of zero-padded images (im2col.py)."""
    n, c, h, w = x_shape
    images = _block_size(n, per_image)[1]
    return _buffer("padded", (c * (h + 2 * padding[0]) * (w + 2 * padding[1]) * images,), dtype)


def _columns(x, kernel, stride, padding, dilation, out_hw, per_image, ones=False):
    """im2col of x (n, C, H, W) into this thread's 'cols' buffer: (n, C*kh*kw, L) per image, else
    (C*kh*kw, L*n). With ``ones``, one more row of ones below: W @ cols then adds the bias from an
    extra column of W, and gy @ cols^T has the bias gradient in its extra column (see
    _with_bias_column)."""
    blocks, images = _block_size(x.shape[0], per_image)
    k, hw = x.shape[1] * kernel[0] * kernel[1], out_hw[0] * out_hw[1]
    cols = _buffer("cols", (blocks, k + ones, hw * images), x.dtype)
    padded = _padded(x.shape, padding, per_image, x.dtype)
    im2col(x, *kernel, *stride, *padding, *dilation, *out_hw, padded, cols)
    if ones:
        cols[:, k] = 1
    return cols if per_image else cols[0]


def _with_bias_column(w, bias):
    """[W | b] (O, C*kh*kw + 1): the weights as a matrix and the bias as one more column, for
    columns with a row of ones. For large images this folds the bias into the product: adding it
    in a pass of its own over the output cost up to 1.5 ms on a (64, 32, 32, 32) output."""
    return np.concatenate([w.reshape(w.shape[0], -1), bias[:, None]], axis=1)


def _tile_buffer(slot, channels, p, dtype):
    """(flat, view): this thread's buffer ``slot`` as 16 rows of channels * p entries and a 64-byte
    gap, for the transforms (see winograd.py), and as the (16, channels, p) matrices for matmul."""
    flat = _buffer(slot, (16, channels * p + 64 // np.dtype(dtype).itemsize), dtype)
    return flat, flat[:, :channels * p].reshape(16, channels, p)


def _tiles(x, padding, th, tw):
    """Winograd's input transform of x (n, C, H, W): the (16, C, n*th*tw) matrices V, in this
    thread's 'cols' buffer."""
    flat, v = _tile_buffer("cols", x.shape[1], x.shape[0] * th * tw, x.dtype)
    winograd.input_transform(x, *padding, th, tw, flat)
    return v


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y (N, O, Ho, Wo) = the cross-correlation of x with w, plus b."""
    x = np.ascontiguousarray(x)
    w = np.ascontiguousarray(w, dtype=x.dtype)
    o = w.shape[0]
    out_hw = conv_output_size(x.shape[2:], w.shape[2:], stride, padding, dilation)
    bias = None if b is None else np.ascontiguousarray(b, dtype=x.dtype)
    y = np.empty((x.shape[0], o, *out_hw), x.dtype)
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
    if bias is None and not per_image:
        bias = np.zeros(o, x.dtype)               # rows_to_nchw adds it in its pass anyway
    w_groups = w.reshape(groups, o // groups, -1)
    y_ncl = y.reshape(n, o, out_hw[0] * out_hw[1])

    w_bias = None if bias is None or not per_image else _with_bias_column(w, bias)

    def chunk(start, stop):
        cols = _columns(x[start:stop], kernel, stride, padding, dilation, out_hw, per_image,
                        ones=w_bias is not None)
        if per_image:
            np.matmul(w_groups[0] if w_bias is None else w_bias, cols, out=y_ncl[start:stop])
            return
        rows = _buffer("rows", (o, cols.shape[1]), x.dtype)
        np.matmul(w_groups, _grouped(cols, groups), out=_grouped(rows, groups))
        rows_to_nchw(rows, bias, y_ncl[start:stop])

    over_chunks(chunk, n, x.shape[1] * kernel[0] * kernel[1] * y_ncl.shape[2], x.itemsize)


def _winograd_forward(x, w, bias, padding, y):
    """y = A^T [U @ V] A + bias with U = G w G^T, V = B^T x B (winograd.py), chunk by chunk."""
    (n, o), c, (th, tw) = y.shape[:2], x.shape[1], winograd.tiles(y.shape[2:])
    u = np.empty((16, o, c), x.dtype)
    winograd.weight_transform(w, u)

    def chunk(start, stop):
        v = _tiles(x[start:stop], padding, th, tw)
        flat, m = _tile_buffer("rows", o, v.shape[2], x.dtype)
        np.matmul(u, v, out=m)
        winograd.output_transform(flat, bias, th, tw, y[start:stop])

    over_chunks(chunk, n, 16 * (c + o) * th * tw, x.itemsize)


def _backward(x, x_shape, w, gy, stride, padding, dilation, groups, need_gx, need_gw, need_gb=False):
    """(gx, gw, gb), each None when not needed; gb may also be None when needed: the caller then
    sums it itself. x is only read when need_gw."""
    if uses_winograd(w.shape, stride, dilation, groups):
        return *_winograd_backward(x, x_shape, w, gy, padding, need_gx, need_gw), None
    return _im2col_backward(x, x_shape, w, gy, stride, padding, dilation, groups, need_gx, need_gw, need_gb)


def _im2col_backward(x, x_shape, w, gy, stride, padding, dilation, groups, need_gx, need_gw, need_gb):
    """gW = (im2col(x) @ rows^T)^T, gx = col2im(W^T @ rows) with rows = nchw_to_rows(gy), chunk by
    chunk; for large images gW = sum of gy[n] @ cols[n]^T and gx = col2im(W^T @ gy[n]). With one
    group, gb comes with gW from the row of ones below the columns (None otherwise)."""
    (n, o), out_hw, kernel = gy.shape[:2], gy.shape[2:], w.shape[2:]
    k = w[0].size
    per_image = _per_image(groups, out_hw)
    ones = need_gw and need_gb and groups == 1
    w_groups_t = w.reshape(groups, o // groups, k).transpose(0, 2, 1)
    gx = np.empty(x_shape, gy.dtype) if need_gx else None
    gy_ncl = gy.reshape(n, o, out_hw[0] * out_hw[1])

    def chunk(start, stop):
        if per_image:
            g = gy_ncl[start:stop]                # (n, O, L): the matrices as they are
        else:
            g = _buffer("rows", (o, (stop - start) * gy_ncl.shape[2]), gy.dtype)
            nchw_to_rows(gy_ncl[start:stop], g)
        gw_part = None
        if need_gw:                               # before gx: both use the 'cols' buffer
            cols = _columns(x[start:stop], kernel, stride, padding, dilation, out_hw, per_image, ones)
            if per_image:                         # the chunk's images summed: (1, O, K [+ 1])
                gw_part = np.matmul(g, cols.transpose(0, 2, 1)).sum(axis=0)[None]
            else:                                 # cols @ rows^T (OpenBLAS is faster this way round):
                gw_part = np.matmul(_grouped(cols, groups), _grouped(g, groups).transpose(0, 2, 1))
                                                  # (groups, K [+ 1], O/groups)
        if need_gx:
            if per_image:
                gcols = _buffer("cols", (stop - start, k, gy_ncl.shape[2]), gy.dtype)
                np.matmul(w_groups_t[0], g, out=gcols)
            else:
                gcols = _buffer("cols", (groups * k, g.shape[1]), gy.dtype)
                np.matmul(w_groups_t, _grouped(g, groups), out=_grouped(gcols, groups))
                gcols = gcols[None]                   # one block: (1, C*kh*kw, L*n)
            col2im(gcols, *kernel, *stride, *padding, *dilation, *out_hw,
                   _padded(gx[start:stop].shape, padding, per_image, gy.dtype), gx[start:stop])
        return gw_part

    gw = over_chunks(chunk, n, groups * k * gy_ncl.shape[2], gy.itemsize)
    gb = None
    if need_gw:
        if gw is None:                            # no image
            gw = np.zeros((groups, o // groups, k + ones), gy.dtype)
        elif not per_image:                       # summed as the products came, transposed once
            gw = gw.transpose(0, 2, 1)
        if ones:
            gb = np.ascontiguousarray(gw[0, :, k])
        gw = np.ascontiguousarray(gw[..., :k]).reshape(w.shape)
    return gx, gw, gb


def _winograd_backward(x, x_shape, w, gy, padding, need_gx, need_gw):
    """dM = A gy A^T; gW = G^T [dM @ V^T] G; gx = B [U^T @ dM] B^T added up over the tiles
    (winograd.py), chunk by chunk."""
    (n, o), (c, th, tw) = gy.shape[:2], (x_shape[1], *winograd.tiles(gy.shape[2:]))
    if need_gx:
        u = np.empty((16, o, c), gy.dtype)
        winograd.weight_transform(w, u)
    gx = np.empty(x_shape, gy.dtype) if need_gx else None

    def chunk(start, stop):
        flat, dm = _tile_buffer("rows", o, (stop - start) * th * tw, gy.dtype)
        winograd.output_transform_adjoint(gy[start:stop], th, tw, flat)
        du_part = None
        if need_gw:                               # before gx: both use the 'cols' buffer
            du_part = np.matmul(dm, _tiles(x[start:stop], padding, th, tw).transpose(0, 2, 1))   # (16, O, C)
        if need_gx:
            flat, dv = _tile_buffer("cols", c, dm.shape[2], gy.dtype)
            np.matmul(u.transpose(0, 2, 1), dm, out=dv)
            winograd.input_transform_adjoint(flat, *padding, th, tw, gx[start:stop])
        return du_part

    du = over_chunks(chunk, n, 16 * (c + o) * th * tw, gy.itemsize)
    gw = None
    if need_gw:
        du = np.zeros((16, o, c), gy.dtype) if du is None else du                   # None: no image
        gw = np.empty(w.shape, gy.dtype)
        winograd.weight_transform_adjoint(du, gw)
    return gx, gw


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
