"""Element-wise kernels on the GPU: activations, bias add, the array helpers of the autograd engine
(add, astype, full, sum_to_shape), batch norm's running statistics, and the SGD / Adam updates.

On the CPU these are one-line NumPy functions (minicnn.kernels.cpu.elementwise, same names and
signatures); on the GPU each is a kernel with one thread per element (grid-stride loops over the
arrays seen flat, see launch.py).
The formulas are the ones of minicnn.functional.activations and minicnn.optim, which follow
PyTorch. Arrays are C-contiguous device arrays of one dtype; scalars are cast to that dtype on the
host so float32 arrays are computed in float32.

The optimizer updates change ``param`` and the state arrays in place, as the NumPy optimizers do.
A state array that is not used (the momentum buffer without momentum, max_exp_avg_sq without
amsgrad) is passed as None; the kernel then receives ``param`` in its place and never touches it.
"""
import math

import numpy as np
from numba import cuda

from .im2col import channel_sums
from .launch import MAX_BLOCKS, THREADS, as_device, empty, flat, full, grid_1d  # noqa: F401 (full: exported)


def _launch(kernel, out, *arrays_and_scalars):
    """kernel[grid](*args, out) over out.size elements; arrays must be flat views."""
    if out.size:
        kernel[grid_1d(out.size)](*arrays_and_scalars, out)


def _unary(kernel, x, name):
    """y = kernel applied to each element of x."""
    x = as_device(x, name=name)
    y = empty(x.shape, x.dtype)
    _launch(kernel, flat(y), flat(x, name))
    return y


def _binary(kernel, a, b, name, out=None):
    """out = kernel applied to each pair of elements of a and b (b cast to a's dtype); ``out`` is
    allocated when None."""
    a = as_device(a, name=name)
    b = as_device(b, a.dtype, name)
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"minicnn.kernels.cuda.{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ "
                         "(broadcasting has no GPU kernel yet: the shapes must be equal)")
    out = empty(a.shape, a.dtype) if out is None else out
    _launch(kernel, flat(out), flat(a, name), flat(b, name))
    return out


@cuda.jit(cache=True)
def _relu(x, y):
    zero = y.dtype.type(0)
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        v = x[e]
        y[e] = v if v > 0 or v != v else zero         # NaN propagates, as np.maximum(x, 0)


@cuda.jit(cache=True)
def _relu_grad(gy, x, gx):
    zero = gx.dtype.type(0)
    for e in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[e] = gy[e] if x[e] > 0 else zero


@cuda.jit(cache=True)
def _tanh(x, y):
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        y[e] = math.tanh(x[e])


@cuda.jit(cache=True)
def _tanh_grad(gy, y, gx):
    one = gx.dtype.type(1)
    for e in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[e] = gy[e] * (one - y[e] * y[e])


@cuda.jit(cache=True)
def _sigmoid(x, y):
    one = y.dtype.type(1)
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        v = x[e]
        t = math.exp(-abs(v))                          # exp of a non-positive number: never overflows
        y[e] = one / (one + t) if v >= 0 else t / (one + t)


@cuda.jit(cache=True)
def _sigmoid_grad(gy, y, gx):
    one = gx.dtype.type(1)
    for e in range(cuda.grid(1), gx.size, cuda.gridsize(1)):
        gx[e] = gy[e] * y[e] * (one - y[e])


def relu_forward(x):
    """y = max(x, 0) (NaN stays NaN)."""
    return _unary(_relu, x, "relu_forward")


def relu_backward(gy, x):
    """gx = gy where x > 0, else 0 (x: the forward input)."""
    return _binary(_relu_grad, gy, x, "relu_backward")


def tanh_forward(x):
    """y = tanh(x)."""
    return _unary(_tanh, x, "tanh_forward")


def tanh_backward(gy, y):
    """gx = gy * (1 - y^2) (y: the forward output)."""
    return _binary(_tanh_grad, gy, y, "tanh_backward")


def sigmoid_forward(x):
    """y = 1 / (1 + exp(-x)), computed without overflow for large |x|."""
    return _unary(_sigmoid, x, "sigmoid_forward")


def sigmoid_backward(gy, y):
    """gx = gy * y * (1 - y) (y: the forward output)."""
    return _binary(_sigmoid_grad, gy, y, "sigmoid_backward")


@cuda.jit(cache=True)
def _add(a, b, out):
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[e] = a[e] + b[e]


def add(a, b, out=None):
    """a + b for arrays of one shape (into ``out`` when given: ``add(a, b, out=a)`` is ``a += b``)."""
    return _binary(_add, a, b, "add", out)


@cuda.jit(cache=True)
def _cast(a, out):
    for e in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[e] = a[e]                                 # converted to out's dtype on assignment


def astype(a, dtype):
    """A copy of ``a`` with dtype ``dtype`` (always a new array, as ndarray.astype)."""
    a = as_device(a, name="astype")
    out = empty(a.shape, dtype)
    _launch(_cast, flat(out), flat(a, "astype"))
    return out


def sum_to_shape(grad, shape):
    """``grad`` summed over the axes that broadcasting added or stretched, giving ``shape``.

    On the GPU the axes kept must be one block of neighbouring axes: grad is then seen as (A, K, B)
    and summed over A and B (channel_sums), which covers a bias (C,) of (N, C) or (1, C, 1, 1) of
    (N, C, H, W), and a scalar. Other patterns have no GPU kernel yet."""
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    padded = (1,) * (grad.ndim - len(shape)) + shape          # shape, with as many axes as grad
    kept = [i for i, m in enumerate(padded) if m != 1]
    lo, hi = (kept[0], kept[-1] + 1) if kept else (0, 0)
    if len(padded) != grad.ndim or any(padded[i] != grad.shape[i] for i in range(lo, hi)):
        raise ValueError(f"minicnn.kernels.cuda.sum_to_shape: summing a gradient of shape "
                         f"{tuple(grad.shape)} to {shape} has no GPU kernel yet (the axes kept must "
                         "be neighbours)")
    a = int(np.prod(grad.shape[:lo]))
    k = int(np.prod(grad.shape[lo:hi]))
    out = empty(k, grad.dtype)
    channel_sums[min(k, MAX_BLOCKS), THREADS](flat(grad, "grad").reshape(a, k, grad.size // (a * k)), out)
    return out.reshape(shape)


@cuda.jit(cache=True)
def _update_running(running_mean, running_var, mean, var, keep, momentum, unbias):
    for c in range(cuda.grid(1), running_mean.size, cuda.gridsize(1)):
        running_mean[c] = running_mean[c] * keep + running_mean.dtype.type(momentum * mean[c])
        running_var[c] = running_var[c] * keep + running_var.dtype.type(momentum * var[c] * unbias)


def batch_norm_update_running(running_mean, running_var, mean, var, momentum, count):
    """In place, as PyTorch: running = (1 - momentum) * running + momentum * batch statistic, with the
    variance made unbiased (times count / (count - 1); count: values per channel, N * H * W)."""
    if running_mean.size:
        _update_running[grid_1d(running_mean.size)](running_mean, running_var, mean, var,
                                                    running_mean.dtype.type(1 - momentum), float(momentum),
                                                    count / (count - 1))


@cuda.jit(cache=True)
def _invstd(var, eps, out):
    for c in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        out[c] = 1.0 / math.sqrt(var[c] + eps)


def batch_norm_invstd(var, eps):
    """1 / sqrt(var + eps) per channel, in float64."""
    out = empty(var.shape[0], np.float64)
    if out.size:
        _invstd[grid_1d(out.size)](as_device(var, np.float64, "var"), float(eps), out)
    return out


@cuda.jit(cache=True)
def _bias_add(x, b, inner, y):
    channels = b.size
    for e in range(cuda.grid(1), y.size, cuda.gridsize(1)):
        y[e] = x[e] + b[(e // inner) % channels]


def bias_add(x, b):
    """y = x + b along axis 1: x (N, C) or (N, C, H, W) (any trailing shape), b (C,)."""
    x = as_device(x, name="x")
    b = as_device(b, x.dtype, "bias")
    if x.ndim < 2 or b.shape[0] != x.shape[1]:
        raise ValueError(f"bias_add: bias of shape {tuple(b.shape)} does not match the channels (axis 1) "
                         f"of x {tuple(x.shape)}")
    y = empty(x.shape, x.dtype)
    inner = x.size // (x.shape[0] * x.shape[1]) if x.size else 1
    _launch(_bias_add, flat(y), flat(x, "x"), b, inner)
    return y


@cuda.jit(cache=True)
def _sgd(p, g, buf, lr, momentum, one_minus_dampening, weight_decay, nesterov, maximize, first_step):
    for e in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        d = -g[e] if maximize else g[e]
        if weight_decay != 0:
            d += weight_decay * p[e]
        if momentum != 0:
            b = d if first_step else momentum * buf[e] + one_minus_dampening * d
            buf[e] = b
            d = d + momentum * b if nesterov else b
        p[e] -= lr * d


def sgd_update(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, maximize=False, first_step=False):
    """One SGD step in place (the rule of minicnn.optim.SGD / torch.optim.SGD):

        g <- -g (maximize);  g <- g + weight_decay * p
        b <- g (first_step)  or  momentum * b + (1 - dampening) * g;   g <- g + momentum * b (nesterov) or b
        p <- p - lr * g

    momentum_buffer: a device array like param (None when momentum == 0)."""
    t = param.dtype.type
    buf = param if momentum_buffer is None else momentum_buffer
    if momentum != 0 and momentum_buffer is None:
        raise ValueError("sgd_update: momentum != 0 needs a momentum_buffer")
    if param.size:
        _sgd[grid_1d(param.size)](flat(param, "param"), flat(grad, "grad"), flat(buf, "momentum_buffer"),
                                  t(lr), t(momentum), t(1 - dampening), t(weight_decay), bool(nesterov),
                                  bool(maximize), bool(first_step))


@cuda.jit(cache=True)
def _adam(p, g, m, v, v_max, step_size, beta1, beta2, one_minus_beta1, one_minus_beta2, bc2_sqrt, eps,
          weight_decay, decay_factor, decoupled, maximize, amsgrad):
    for e in range(cuda.grid(1), p.size, cuda.gridsize(1)):
        d = -g[e] if maximize else g[e]
        if weight_decay != 0:
            if decoupled:
                p[e] *= decay_factor
            else:
                d += weight_decay * p[e]
        m[e] = beta1 * m[e] + one_minus_beta1 * d
        v[e] = beta2 * v[e] + one_minus_beta2 * d * d
        s = v[e]
        if amsgrad:
            v_max[e] = max(v_max[e], s)
            s = v_max[e]
        p[e] -= m[e] / (math.sqrt(s) / bc2_sqrt + eps) * step_size


def adam_update(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                weight_decay=0.0, decoupled_weight_decay=False, maximize=False, max_exp_avg_sq=None):
    """One Adam (AdamW with decoupled_weight_decay) step in place, the rule of minicnn.optim.Adam:

        g <- -g (maximize);  p <- p * (1 - lr * wd) (decoupled)  or  g <- g + wd * p
        m <- b1 m + (1 - b1) g;   v <- b2 v + (1 - b2) g^2;   v_max <- max(v_max, v), used as v (amsgrad)
        p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

    ``step`` is t, counted from 1 (this step included); max_exp_avg_sq given means amsgrad."""
    t = param.dtype.type
    beta1, beta2 = betas
    v_max = param if max_exp_avg_sq is None else max_exp_avg_sq
    if param.size:
        _adam[grid_1d(param.size)](
            flat(param, "param"), flat(grad, "grad"), flat(exp_avg, "exp_avg"), flat(exp_avg_sq, "exp_avg_sq"),
            flat(v_max, "max_exp_avg_sq"), t(lr / (1 - beta1 ** step)), t(beta1), t(beta2), t(1 - beta1),
            t(1 - beta2), t(math.sqrt(1 - beta2 ** step)), t(eps), t(weight_decay), t(1 - lr * weight_decay),
            bool(decoupled_weight_decay), bool(maximize), max_exp_avg_sq is not None)
