"""Plain NumPy references of the convolution and pooling kernels: slow, short, obviously correct.

Used only by tests (the fast kernels must agree with them) and benchmarks. Same names and signatures
as minicnn.kernels.cpu; arrays are NCHW, ``stride``/``padding``/``dilation``/``kernel`` are (h, w)
pairs of ints, padding is symmetric.

Convolution is im2col + matrix product: ``im2col`` copies, for each kernel offset (i, j), the input
pixels that offset sees into a column array of shape (N, C, kh, kw, Ho, Wo); the output is then one
matrix product per group. The transposed operations (input gradient = col2im of W^T gy, weight
gradient = gy cols^T) use the same column layout. Pooling gathers the same (i, j) views of a padded
input (padded with -inf for max, 0 for average) and reduces over them.
"""
import numpy as np

from .shape_rules import adaptive_window, conv_output_size, pool_output_size


def _window_views(xp, kernel, stride, dilation, out_hw):
    """Yield (i, j, view): the (N, C, Ho, Wo) pixels of padded input xp under kernel offset (i, j)."""
    (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel, stride, dilation, out_hw
    for i in range(kh):
        for j in range(kw):
            yield i, j, xp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh,
                           j * dw: j * dw + sw * (wo - 1) + 1: sw]


def im2col(x, kernel, stride, padding, dilation):
    """Columns (N, C, kh, kw, Ho, Wo): cols[n, c, i, j, oh, ow] = x_padded[n, c, oh*sh + i*dh, ow*sw + j*dw]."""
    n, c, h, w = x.shape
    out_hw = conv_output_size((h, w), kernel, stride, padding, dilation)
    (ph, pw) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((n, c, *kernel, *out_hw), x.dtype)
    for i, j, view in _window_views(xp, kernel, stride, dilation, out_hw):
        cols[:, :, i, j] = view
    return cols


def col2im(cols, x_shape, stride, padding, dilation):
    """The adjoint of im2col: add every column entry back onto the input pixel it was copied from."""
    n, c, h, w = x_shape
    kh, kw, ho, wo = cols.shape[2:]
    (ph, pw) = padding
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), cols.dtype)
    for i, j, view in _window_views(xp, (kh, kw), stride, dilation, (ho, wo)):
        view += cols[:, :, i, j]                  # view is a slice of xp: this adds in place
    return xp[:, :, ph: ph + h, pw: pw + w].copy()


def conv2d_forward(x, w, b, stride, padding, dilation, groups):
    """y[n, o] = b[o] + sum over the group's channels c and offsets (i, j) of w[o, c, i, j] * cols."""
    n, c = x.shape[:2]
    o, cg, kh, kw = w.shape
    cols = im2col(x, (kh, kw), stride, padding, dilation)
    ho, wo = cols.shape[-2:]
    cols = cols.reshape(n, groups, cg * kh * kw, ho * wo)
    wg = w.reshape(groups, o // groups, cg * kh * kw)
    y = np.matmul(wg, cols)                       # (n, groups, o/groups, Ho*Wo)
    y = y.reshape(n, o, ho, wo)
    if b is not None:
        y += b.reshape(1, o, 1, 1)
    return y


def conv2d_input_grad(gy, w, x_shape, stride, padding, dilation, groups):
    """dL/dx = col2im(W^T gy); also the transposed convolution of gy by w."""
    n, o, ho, wo = gy.shape
    _, cg, kh, kw = w.shape
    wg = w.reshape(groups, o // groups, cg * kh * kw)
    gcols = np.matmul(wg.transpose(0, 2, 1), gy.reshape(n, groups, o // groups, ho * wo))
    return col2im(gcols.reshape(n, groups * cg, kh, kw, ho, wo), x_shape, stride, padding, dilation)


def conv2d_weight_grad(x, gy, w_shape, stride, padding, dilation, groups):
    """dL/dw[o, c, i, j] = sum over n, oh, ow of gy[n, o, oh, ow] * cols[n, c, i, j, oh, ow]."""
    n, o, ho, wo = gy.shape
    _, cg, kh, kw = w_shape
    cols = im2col(x, (kh, kw), stride, padding, dilation).reshape(n, groups, cg * kh * kw, ho * wo)
    gyg = gy.reshape(n, groups, o // groups, ho * wo)
    gw = np.matmul(gyg, cols.transpose(0, 1, 3, 2)).sum(axis=0)
    return gw.reshape(w_shape)


def conv2d_bias_grad(gy):
    """dL/db[o] = sum of gy[:, o] over batch and positions."""
    return gy.sum(axis=(0, 2, 3))


def _pool_pad(x, kernel, stride, padding, dilation, ceil_mode, value):
    """x padded with ``value`` on every side, plus extra on the right/bottom for ceil_mode windows."""
    h, w = x.shape[2:]
    out_hw = pool_output_size((h, w), kernel, stride, padding, dilation, ceil_mode)
    extra = [max(0, (n_out - 1) * s + d * (k - 1) + 1 - (n + 2 * p))
             for n_out, s, d, k, n, p in zip(out_hw, stride, dilation, kernel, (h, w), padding)]
    (ph, pw) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph + extra[0]), (pw, pw + extra[1])), constant_values=value)
    return xp, out_hw


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """(y, indices): the max of each window (padding counts as -inf) and where it is, as the flat
    index h * W + w in the input plane. The index names the first input pixel in row-major window
    order that holds the max (the first NaN, if any); -1 if the window saw only padding."""
    h, w = x.shape[2:]
    xp, out_hw = _pool_pad(x, kernel, stride, padding, dilation, ceil_mode, -np.inf)
    views = np.stack([v for _, _, v in _window_views(xp, kernel, stride, dilation, out_hw)])
    y = np.max(views, axis=0)                     # NaN-propagating
    taps = np.arange(len(views)).reshape(-1, 1, 1, 1, 1)
    i, j = np.divmod(taps, kernel[1])
    oh = np.arange(out_hw[0]).reshape(-1, 1)
    ow = np.arange(out_hw[1]).reshape(1, -1)
    rows = oh * stride[0] - padding[0] + i * dilation[0]
    cols = ow * stride[1] - padding[1] + j * dilation[1]
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)   # False: a padding tap
    holds_max = inside & ((views == y) | (np.isnan(views) & np.isnan(y)))
    first = np.argmax(holds_max, axis=0)          # np.argmax returns the first True
    found = np.take_along_axis(holds_max, first[None], axis=0)[0]
    at = np.take_along_axis(np.broadcast_to(rows * w + cols, views.shape), first[None], axis=0)[0]
    return y, np.where(found, at, -1).astype(np.int64)


def max_pool2d_backward(gy, indices, x_shape):
    """Each output gradient goes to the input pixel its index names (summed where windows share it)."""
    n, c, h, w = x_shape
    gx = np.zeros((n * c, h * w), gy.dtype)
    rows = np.repeat(np.arange(n * c), indices[0, 0].size)
    seen = indices.reshape(-1) >= 0                # index -1: a window with no input pixel
    np.add.at(gx, (rows[seen], indices.reshape(-1)[seen]), gy.reshape(-1)[seen])
    return gx.reshape(x_shape)


def _avg_divisors(x_hw, out_hw, kernel, stride, padding, count_include_pad):
    """PyTorch's divisor of each average window: the window clipped to the padded input (padding
    counted) or to the input itself (padding not counted)."""
    div = np.empty(out_hw)
    for oh in range(out_hw[0]):
        for ow in range(out_hw[1]):
            size = 1
            for o, k, s, p, n in zip((oh, ow), kernel, stride, padding, x_hw):
                start = o * s - p
                end = min(start + k, n + p)
                if not count_include_pad:
                    start, end = max(start, 0), min(end, n)
                size *= end - start
            div[oh, ow] = size
    return div


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override=None):
    """Mean over each window; the divisor follows PyTorch (see _avg_divisors) unless overridden."""
    xp, out_hw = _pool_pad(x, kernel, stride, padding, (1, 1), ceil_mode, 0.0)
    total = sum(v for _, _, v in _window_views(xp, kernel, stride, (1, 1), out_hw))
    div = divisor_override or _avg_divisors(x.shape[2:], out_hw, kernel, stride, padding, count_include_pad)
    return (total / div).astype(x.dtype)


def avg_pool2d_backward(gy, x_shape, kernel, stride, padding, ceil_mode, count_include_pad,
                        divisor_override=None):
    """Each output gradient, divided by its divisor, goes to every input pixel of its window."""
    zeros = np.zeros(x_shape, gy.dtype)
    gp, out_hw = _pool_pad(zeros, kernel, stride, padding, (1, 1), ceil_mode, 0.0)
    div = divisor_override or _avg_divisors(x_shape[2:], out_hw, kernel, stride, padding, count_include_pad)
    for _, _, view in _window_views(gp, kernel, stride, (1, 1), out_hw):
        view += gy / div
    (ph, pw), (h, w) = padding, x_shape[2:]
    return gp[:, :, ph: ph + h, pw: pw + w].copy()


def adaptive_avg_pool2d_forward(x, output_size):
    """Mean over window [floor(i H / Ho), ceil((i + 1) H / Ho)) x (same along W)."""
    n, c, h, w = x.shape
    y = np.empty((n, c, *output_size), x.dtype)
    for oh in range(output_size[0]):
        h0, h1 = adaptive_window(oh, h, output_size[0])
        for ow in range(output_size[1]):
            w0, w1 = adaptive_window(ow, w, output_size[1])
            y[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    return y


def adaptive_avg_pool2d_backward(gy, x_shape):
    """Each output gradient, divided by its window's area, goes to every pixel of the window."""
    gx = np.zeros(x_shape, gy.dtype)
    h, w = x_shape[2:]
    for oh in range(gy.shape[2]):
        h0, h1 = adaptive_window(oh, h, gy.shape[2])
        for ow in range(gy.shape[3]):
            w0, w1 = adaptive_window(ow, w, gy.shape[3])
            gx[:, :, h0:h1, w0:w1] += (gy[:, :, oh, ow] / ((h1 - h0) * (w1 - w0)))[:, :, None, None]
    return gx


def adaptive_max_pool2d_forward(x, output_size):
    """(y, indices) over the adaptive windows; a tie goes to the first maximum in row-major order."""
    n, c, h, w = x.shape
    y = np.empty((n, c, *output_size), x.dtype)
    idx = np.empty((n, c, *output_size), np.int64)
    for oh in range(output_size[0]):
        h0, h1 = adaptive_window(oh, h, output_size[0])
        for ow in range(output_size[1]):
            w0, w1 = adaptive_window(ow, w, output_size[1])
            win = x[:, :, h0:h1, w0:w1].reshape(n, c, -1)
            first = np.argmax(win, axis=2)
            y[:, :, oh, ow] = np.take_along_axis(win, first[..., None], axis=2)[..., 0]
            idx[:, :, oh, ow] = (h0 + first // (w1 - w0)) * w + w0 + first % (w1 - w0)
    return y, idx


adaptive_max_pool2d_backward = max_pool2d_backward
