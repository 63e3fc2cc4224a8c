"""Batch normalization (and, at the end, local response normalization) on the CPU, with Numba.

Batch norm runs one task per channel (prange over C).

Every statistic of batch norm is per channel c, over the M = N * (H*W) values of that channel:

    training   mean_c = sum(x) / M,  var_c = sum((x - mean_c)^2) / M      (biased: divide by M)
               x_hat = (x - mean_c) * invstd_c,  invstd_c = 1 / sqrt(var_c + eps)
    eval       mean_c, var_c are the running statistics, nothing is computed from the batch
    both       y = weight_c * x_hat + bias_c  =  x * scale_c + shift_c

    backward   gbias_c   = sum(gy)
               gweight_c = sum(gy * x_hat)
               gx = weight_c * invstd_c * gy                                        (eval)
               gx = weight_c * invstd_c * (gy - gbias_c / M - x_hat * gweight_c / M)  (training)

The training gradient has two more terms than the eval one because there the mean and variance are
functions of x too. Sums are accumulated in float64 whatever the array dtype, and the variance is
taken around the mean (two passes), not as E[x^2] - E[x]^2, which cancels catastrophically.

Arrays: x and gy are (N, C, *) of float32 or float64 (any trailing shape: (N, C) for BatchNorm1d,
(N, C, H, W) for BatchNorm2d); per-channel arrays are (C,). Outputs have x's dtype, except the
statistics mean/var/invstd, which are float64.
"""
import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def _channel_stats(x, mean, var):
    """mean[c], var[c] (biased) of x (N, C, L) over axes 0 and 2."""
    n, c, l = x.shape
    m = n * l
    for ch in prange(c):
        s = 0.0
        for i in range(n):
            for j in range(l):
                s += x[i, ch, j]
        mu = s / m
        v = 0.0
        for i in range(n):
            for j in range(l):
                d = x[i, ch, j] - mu
                v += d * d
        mean[ch] = mu
        var[ch] = v / m


@njit(parallel=True, cache=True)
def _scale_shift(x, scale, shift, y):
    """y[:, c] = x[:, c] * scale[c] + shift[c] for x, y (N, C, L)."""
    n, c, l = x.shape
    for ch in prange(c):
        a = scale[ch]
        b = shift[ch]
        for i in range(n):
            for j in range(l):
                y[i, ch, j] = x[i, ch, j] * a + b


@njit(parallel=True, cache=True)
def _backward(gy, x, mean, invstd, weight, training, gx, gweight, gbias):
    """gx (N, C, L), gweight (C,), gbias (C,): the formulas of the module docstring."""
    n, c, l = x.shape
    m = n * l
    for ch in prange(c):
        mu = mean[ch]
        inv = invstd[ch]
        sum_g = 0.0
        sum_gx = 0.0
        for i in range(n):
            for j in range(l):
                g = gy[i, ch, j]
                sum_g += g
                sum_gx += g * (x[i, ch, j] - mu) * inv
        gbias[ch] = sum_g
        gweight[ch] = sum_gx
        k = weight[ch] * inv
        if training:
            mean_g = sum_g / m
            mean_gx = sum_gx / m
            for i in range(n):
                for j in range(l):
                    x_hat = (x[i, ch, j] - mu) * inv
                    gx[i, ch, j] = k * (gy[i, ch, j] - mean_g - x_hat * mean_gx)
        else:
            for i in range(n):
                for j in range(l):
                    gx[i, ch, j] = k * gy[i, ch, j]


def _as_ncl(a):
    """(N, C, *) -> a contiguous (N, C, L) view or copy."""
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], -1)


def batch_norm_stats(x):
    """(mean, var) per channel of x (N, C, *), float64, var biased (divided by N*H*W)."""
    x3 = _as_ncl(x)
    mean = np.empty(x3.shape[1], np.float64)
    var = np.empty(x3.shape[1], np.float64)
    _channel_stats(x3, mean, var)
    return mean, var


def batch_norm_forward(x, mean, invstd, weight, bias):
    """y = (x - mean) * invstd * weight + bias per channel; same shape and dtype as x.

    mean, invstd: (C,) batch statistics (training) or running ones (eval); weight, bias: (C,)."""
    x3 = _as_ncl(x)
    scale = (weight * invstd).astype(x.dtype)
    shift = (bias - mean * weight * invstd).astype(x.dtype)
    y = np.empty_like(x3)
    _scale_shift(x3, scale, shift, y)
    return y.reshape(x.shape)


def batch_norm_backward(gy, x, mean, invstd, weight, training):
    """(gx, gweight, gbias) of batch_norm_forward; `training` adds the terms through mean and var."""
    x3 = _as_ncl(x)
    gy3 = _as_ncl(gy.astype(x.dtype, copy=False))
    c = x3.shape[1]
    gx = np.empty_like(x3)
    gweight = np.empty(c, x.dtype)
    gbias = np.empty(c, x.dtype)
    _backward(gy3, x3, mean.astype(np.float64), invstd.astype(np.float64),
              weight.astype(np.float64), bool(training), gx, gweight, gbias)
    return gx.reshape(x.shape), gweight, gbias


# ------------------------------------------------------- local response normalization
# The other per-channel normalization (AlexNet's LRN). For x (N, C, *) and n = size:
#     d_c = k + alpha/n * sum of x_{c'}^2 over c' in [c - n//2, c + (n-1)//2]  (zero outside 0..C-1)
#     y_c = x_c * d_c^(-beta)
#     gx_j = gy_j * d_j^(-beta) - 2 alpha beta / n * x_j * sum over c' in [j - (n-1)//2, j + n//2]
#            of t_c',   t_c = gy_c * x_c * d_c^(-beta-1)
# The window sum slides along the channels as a running sum (add the channel entering the window,
# subtract the one leaving), in float64, one image per task.

@njit(parallel=True, cache=True)
def _lrn_forward(x, size, alpha, beta, k, y, d):
    n_img, c, l = x.shape
    before, after = size // 2, (size - 1) // 2
    coef = alpha / size
    for i in prange(n_img):
        acc = np.zeros(l)
        for ch in range(min(after, c)):
            for j in range(l):
                v = np.float64(x[i, ch, j])
                acc[j] += v * v
        for ch in range(c):
            enter, leave = ch + after, ch - before - 1
            if enter < c:
                for j in range(l):
                    v = np.float64(x[i, enter, j])
                    acc[j] += v * v
            if leave >= 0:
                for j in range(l):
                    v = np.float64(x[i, leave, j])
                    acc[j] -= v * v
            for j in range(l):
                dd = k + coef * acc[j]
                d[i, ch, j] = dd
                y[i, ch, j] = x[i, ch, j] * dd ** -beta


@njit(parallel=True, cache=True)
def _lrn_backward(gy, x, d, size, alpha, beta, t, gx):
    n_img, c, l = x.shape
    before, after = size // 2, (size - 1) // 2     # the mirrored window: [j - after, j + before]
    coef = 2.0 * alpha * beta / size
    for i in prange(n_img):
        for ch in range(c):
            for j in range(l):
                scale = np.float64(d[i, ch, j]) ** -beta
                t[i, ch, j] = gy[i, ch, j] * x[i, ch, j] * scale / d[i, ch, j]
                gx[i, ch, j] = gy[i, ch, j] * scale
        acc = np.zeros(l)
        for ch in range(min(before, c)):
            for j in range(l):
                acc[j] += t[i, ch, j]
        for ch in range(c):
            enter, leave = ch + before, ch - after - 1
            if enter < c:
                for j in range(l):
                    acc[j] += t[i, enter, j]
            if leave >= 0:
                for j in range(l):
                    acc[j] -= t[i, leave, j]
            for j in range(l):
                gx[i, ch, j] -= coef * x[i, ch, j] * acc[j]


def local_response_norm_forward(x, size, alpha, beta, k):
    """(y, d) for x (N, C, *): y = x * d^(-beta); d (x's dtype) is what the backward pass needs."""
    x3 = _as_ncl(x)
    y, d = np.empty_like(x3), np.empty_like(x3)
    _lrn_forward(x3, int(size), float(alpha), float(beta), float(k), y, d)
    return y.reshape(x.shape), d.reshape(x.shape)


def local_response_norm_backward(gy, x, d, size, alpha, beta):
    """gx of local_response_norm_forward, given its d."""
    x3 = _as_ncl(x)
    t, gx = np.empty_like(x3), np.empty_like(x3)
    _lrn_backward(_as_ncl(gy.astype(x.dtype, copy=False)), x3, _as_ncl(d), int(size), float(alpha),
                  float(beta), t, gx)
    return gx.reshape(x.shape)
