"""Plain NumPy versions of the normalization kernels in minicnn.kernels.cpu.batchnorm.

The same names and signatures, written with whole-array NumPy so each formula can be read off
directly; tests hold the Numba kernels to these.

Local response normalization (AlexNet's LRN, PyTorch's formula) for x (N, C, *), n = size; the sum
over a window of neighbouring channels is `size` shifted array additions:

    S_c  = sum of x_{c'}^2 for c' in [c - n//2, c + (n-1)//2]   (channels outside 0..C-1 count as 0)
    D_c  = k + alpha / n * S_c
    y_c  = x_c * D_c^(-beta)
    gx_j = gy_j * D_j^(-beta) - 2 alpha beta / n * x_j * sum over the c whose window holds j of
           gy_c * x_c * D_c^(-beta-1)

The windows holding channel j are c in [j - (n-1)//2, j + n//2]: the same window, mirrored.
"""
import numpy as np


# ------------------------------------------------------------------ batch norm
def _channel_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, x):
    """(C,) -> shape (1, C, 1, ...) to broadcast against x."""
    return np.asarray(v).reshape((1, -1) + (1,) * (x.ndim - 2))


def batch_norm_stats(x):
    """(mean, var) per channel of x (N, C, *), float64, var biased."""
    x64 = x.astype(np.float64)
    axes = _channel_axes(x)
    return x64.mean(axis=axes), x64.var(axis=axes)


def batch_norm_forward(x, mean, invstd, weight, bias):
    """y = (x - mean) * invstd * weight + bias, per channel."""
    x_hat = (x - _per_channel(mean, x)) * _per_channel(invstd, x)
    return (x_hat * _per_channel(weight, x) + _per_channel(bias, x)).astype(x.dtype)


def batch_norm_backward(gy, x, mean, invstd, weight, training):
    """(gx, gweight, gbias); see minicnn.kernels.cpu.batchnorm for the formulas."""
    axes = _channel_axes(x)
    m = x.size // x.shape[1]
    x_hat = (x.astype(np.float64) - _per_channel(mean, x)) * _per_channel(invstd, x)
    gbias = gy.sum(axis=axes, dtype=np.float64)
    gweight = (gy * x_hat).sum(axis=axes)
    k = _per_channel(np.asarray(weight) * invstd, x)
    if training:
        gx = k * (gy - _per_channel(gbias, x) / m - x_hat * _per_channel(gweight, x) / m)
    else:
        gx = k * gy
    return gx.astype(x.dtype), gweight.astype(x.dtype), gbias.astype(x.dtype)


# -------------------------------------------------------------- local response norm
def _channel_window_sum(a, before, after):
    """out_c = sum of a_{c'} for c' in [c - before, c + after], zero outside the channels."""
    c = a.shape[1]
    pad = [(0, 0)] * a.ndim
    pad[1] = (before, after)
    padded = np.pad(a, pad)
    out = np.zeros_like(a)
    for i in range(before + after + 1):
        out += padded[:, i:i + c]
    return out


def local_response_norm_forward(x, size, alpha, beta, k):
    """(y, d): y = x * d^(-beta) with d = k + alpha/size * (windowed sum of x^2 over channels)."""
    d = k + (alpha / size) * _channel_window_sum(x * x, size // 2, (size - 1) // 2)
    return x * d ** -beta, d


def local_response_norm_backward(gy, x, d, size, alpha, beta):
    """gx of local_response_norm_forward, given its saved d."""
    scaled = d ** -beta
    t = gy * x * scaled / d                       # gy_c * x_c * d_c^(-beta-1)
    mirrored = _channel_window_sum(t, (size - 1) // 2, size // 2)
    return (gy * scaled - (2.0 * alpha * beta / size) * x * mirrored).astype(x.dtype)
