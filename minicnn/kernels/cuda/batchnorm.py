"""Batch normalization on the GPU: one block per channel for the sums, one thread per element after
(and, at the end, local response normalization).

The formulas, dtypes and float64 accumulation are those of minicnn.kernels.cpu.batchnorm (read its
docstring for the maths). Each per-channel sum is a block's threads adding up strided shares of the
channel's N * L values, then combining them with a shared-memory tree reduction (launch.block_sum).
Arrays: x, gy (N, C, *) C-contiguous device arrays; per-channel arrays (C,) (NumPy arrays are
copied to the GPU); the statistics are float64, as on the CPU.
"""
import numpy as np
from numba import cuda, float64

from .launch import MAX_BLOCKS, THREADS, as_device, as_ncl, block_sum, empty, grid_1d


@cuda.jit(cache=True)
def _channel_stats(x, mean, var):
    """mean[c], var[c] (biased, around the mean: two passes) of x (N, C, L) over axes 0 and 2."""
    partial = cuda.shared.array(THREADS, float64)
    n_img, channels, length = x.shape
    count = n_img * length
    for c in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        s = 0.0
        for e in range(cuda.threadIdx.x, count, cuda.blockDim.x):
            s += x[e // length, c, e % length]
        mu = block_sum(s, partial) / count
        s = 0.0
        for e in range(cuda.threadIdx.x, count, cuda.blockDim.x):
            d = x[e // length, c, e % length] - mu
            s += d * d
        v = block_sum(s, partial) / count
        if cuda.threadIdx.x == 0:
            mean[c] = mu
            var[c] = v


@cuda.jit(cache=True)
def _scale_shift(x, mean, invstd, weight, bias, y):
    """y[:, c] = x[:, c] * scale_c + shift_c, with scale_c = weight_c * invstd_c and
    shift_c = bias_c - mean_c * scale_c computed in float64, then cast to x's dtype (as on the CPU)."""
    channels, length = x.shape[1], x.shape[2]
    for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        c = e // length % channels
        scale = weight[c] * invstd[c]
        shift = bias[c] - mean[c] * weight[c] * invstd[c]
        n = e // (channels * length)
        y[n, c, e % length] = x[n, c, e % length] * y.dtype.type(scale) + y.dtype.type(shift)


@cuda.jit(cache=True)
def _backward(gy, x, mean, invstd, weight, training, gx, gweight, gbias):
    """gx (N, C, L), gweight (C,), gbias (C,): block c sums channel c, then writes its gx."""
    partial = cuda.shared.array(THREADS, float64)
    n_img, channels, length = x.shape
    count = n_img * length
    for c in range(cuda.blockIdx.x, channels, cuda.gridDim.x):
        mu = mean[c]
        inv = invstd[c]
        sum_g = 0.0
        sum_gx = 0.0
        for e in range(cuda.threadIdx.x, count, cuda.blockDim.x):
            g = gy[e // length, c, e % length]
            sum_g += g
            sum_gx += g * (x[e // length, c, e % length] - mu) * inv
        sum_g = block_sum(sum_g, partial)
        sum_gx = block_sum(sum_gx, partial)
        if cuda.threadIdx.x == 0:
            gbias[c] = sum_g
            gweight[c] = sum_gx
        k = weight[c] * inv
        mean_g = sum_g / count if training else 0.0
        mean_gx = sum_gx / count if training else 0.0
        for e in range(cuda.threadIdx.x, count, cuda.blockDim.x):
            i, j = e // length, e % length
            x_hat = (x[i, c, j] - mu) * inv
            gx[i, c, j] = k * (gy[i, c, j] - mean_g - x_hat * mean_gx)


def batch_norm_stats(x):
    """(mean, var) per channel of x (N, C, *), float64 device arrays, var biased (divided by N*H*W)."""
    x3 = as_ncl(as_device(x, name="x"), "x")
    mean = empty(x3.shape[1], "float64")
    var = empty(x3.shape[1], "float64")
    if mean.size:
        _channel_stats[min(mean.size, MAX_BLOCKS), THREADS](x3, mean, var)
    return mean, var


def batch_norm_forward(x, mean, invstd, weight, bias):
    """y = (x - mean) * invstd * weight + bias per channel; same shape and dtype as x.

    mean, invstd: (C,) batch statistics (training) or running ones (eval); weight, bias: (C,)."""
    x = as_device(x, name="x")
    x3 = as_ncl(x, "x")
    stats = [as_device(a, "float64", n) for a, n in
             ((mean, "mean"), (invstd, "invstd"), (weight, "weight"), (bias, "bias"))]
    y = empty(x.shape, x.dtype)
    if x.size:
        _scale_shift[grid_1d(x.size)](x3, *stats, as_ncl(y))
    return y


def batch_norm_backward(gy, x, mean, invstd, weight, training):
    """(gx, gweight, gbias) of batch_norm_forward; `training` adds the terms through mean and var."""
    x = as_device(x, name="x")
    gy = as_device(gy, x.dtype, "grad_output")
    x3 = as_ncl(x, "x")
    c = x3.shape[1]
    gx = empty(x.shape, x.dtype)
    gweight = empty(c, x.dtype)
    gbias = empty(c, x.dtype)
    if c:
        _backward[min(c, MAX_BLOCKS), THREADS](
            as_ncl(gy, "grad_output"), x3, *(as_device(a, "float64", n) for a, n in
                                            ((mean, "mean"), (invstd, "invstd"), (weight, "weight"))),
            bool(training), as_ncl(gx), gweight, gbias)
    return gx, gweight, gbias


# ------------------------------------------------------- local response normalization
# The formulas of minicnn.kernels.cpu.batchnorm (AlexNet's LRN across channels). One thread per
# element sums its channel window directly (windows are a few channels wide), in float64 as the CPU.

@cuda.jit(cache=True)
def _lrn_forward(x, size, alpha, beta, k, y, d):
    channels, length = x.shape[1], x.shape[2]
    for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        i, c, j = e // (channels * length), e // length % channels, e % length
        acc = 0.0
        for cc in range(max(c - size // 2, 0), min(c + (size - 1) // 2 + 1, channels)):
            v = np.float64(x[i, cc, j])
            acc += v * v
        dd = k + alpha / size * acc
        d[i, c, j] = dd
        y[i, c, j] = x[i, c, j] * dd ** -beta


@cuda.jit(cache=True)
def _lrn_backward(gy, x, d, size, alpha, beta, gx):
    channels, length = x.shape[1], x.shape[2]
    coef = 2.0 * alpha * beta / size
    for e in range(cuda.grid(1), x.size, cuda.gridsize(1)):
        i, c, j = e // (channels * length), e // length % channels, e % length
        acc = 0.0                                 # sum of t = gy x d^(-beta-1) over the mirrored window
        for cc in range(max(c - (size - 1) // 2, 0), min(c + size // 2 + 1, channels)):
            acc += gy[i, cc, j] * x[i, cc, j] * np.float64(d[i, cc, j]) ** -beta / d[i, cc, j]
        gx[i, c, j] = gy[i, c, j] * np.float64(d[i, c, j]) ** -beta - coef * x[i, c, j] * acc


def local_response_norm_forward(x, size, alpha, beta, k):
    """(y, d) for x (N, C, *): y = x * d^(-beta); d (x's dtype) is what the backward pass needs."""
    x = as_device(x, name="x")
    y, d = empty(x.shape, x.dtype), empty(x.shape, x.dtype)
    if x.size:
        _lrn_forward[grid_1d(x.size)](as_ncl(x, "x"), int(size), float(alpha), float(beta), float(k),
                                      as_ncl(y), as_ncl(d))
    return y, d


def local_response_norm_backward(gy, x, d, size, alpha, beta):
    """gx of local_response_norm_forward, given its d."""
    x = as_device(x, name="x")
    gx = empty(x.shape, x.dtype)
    if x.size:
        _lrn_backward[grid_1d(x.size)](as_ncl(as_device(gy, x.dtype, "grad_output"), "grad_output"),
                                       as_ncl(x, "x"), as_ncl(as_device(d, x.dtype, "d"), "d"), int(size),
                                       float(alpha), float(beta), as_ncl(gx))
    return gx
