"""Element-wise kernels on the CPU: activations, array helpers of the autograd engine, the running
statistics of batch norm, and the SGD / Adam parameter updates.

Each is a line or two of NumPy. They are kernels (rather than NumPy written inside the ops) so that
an op reads the same for both backends: ``kernels_for(x).relu_forward(x)`` runs the function below
on a NumPy array and its numba.cuda twin (minicnn.kernels.cuda.elementwise, same name and
signature) on a GPU device array.
"""
import numpy as np

# ------------------------------------------------------------------------------ activations


def relu_forward(x):
    """y = max(x, 0) (NaN stays NaN)."""
    return np.maximum(x, 0)


def relu_backward(gy, x):
    """gx = gy where x > 0, else 0 (x: the forward input)."""
    return gy * (x > 0)


def tanh_forward(x):
    """y = tanh(x)."""
    return np.tanh(x)


def tanh_backward(gy, y):
    """gx = gy * (1 - y^2) (y: the forward output). Computed in one new array: each temporary of a
    large layer's size costs fresh pages from the OS (page faults), which made this 5x slower."""
    gx = np.multiply(y, y, out=np.empty_like(y))
    np.subtract(1, gx, out=gx)
    return np.multiply(gy, gx, out=gx)


def sigmoid_forward(x):
    """y = 1 / (1 + exp(-x)), computed as exp of a non-positive number only: no overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def sigmoid_backward(gy, y):
    """gx = gy * y * (1 - y) (y: the forward output), in one new array as tanh_backward."""
    gx = np.subtract(1, y, out=np.empty_like(y))
    np.multiply(gx, y, out=gx)
    return np.multiply(gy, gx, out=gx)


# ------------------------------------------------------------- arrays for the autograd engine

def full(shape, value, dtype):
    """A new array of ``shape`` filled with ``value`` (a seed gradient of ones, a zero buffer)."""
    return np.full(shape, value, dtype)


def add(a, b, out=None):
    """a + b (into ``out`` when given: ``add(a, b, out=a)`` is ``a += b``)."""
    return np.add(a, b, out=out)


def astype(a, dtype):
    """A copy of ``a`` with dtype ``dtype`` (always a new array, as ndarray.astype)."""
    return a.astype(dtype)


def sum_to_shape(grad, shape):
    """``grad`` summed over the axes that broadcasting added or stretched, giving ``shape``.

    The gradient of x + b with b of shape (C,) and x of shape (N, C) is the output gradient summed
    over N: every output row used the same b."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return np.asarray(grad).reshape(shape)        # an array also when every axis was summed


# ------------------------------------------------------------- batch norm's running statistics

def batch_norm_update_running(running_mean, running_var, mean, var, momentum, count):
    """In place, as PyTorch: running = (1 - momentum) * running + momentum * batch statistic, with the
    variance made unbiased (times count / (count - 1); count: values per channel, N * H * W)."""
    running_mean *= 1 - momentum
    running_mean += (momentum * mean).astype(running_mean.dtype)
    running_var *= 1 - momentum
    running_var += (momentum * var * count / (count - 1)).astype(running_var.dtype)


def batch_norm_invstd(var, eps):
    """1 / sqrt(var + eps) per channel, in float64."""
    return 1.0 / np.sqrt(var.astype(np.float64, copy=False) + eps)


# ------------------------------------------------------------------------ optimizer updates

def sgd_update(param, grad, momentum_buffer, lr, momentum=0.0, dampening=0.0, weight_decay=0.0,
               nesterov=False, maximize=False, first_step=False):
    """One SGD step in place, PyTorch's rule (written out in minicnn.optim.sgd's docstring).
    momentum_buffer: an array like param (None when momentum == 0), set to the gradient on the
    first step."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        grad = grad + weight_decay * param             # a new array: the caller's grad stays as it was
    if momentum != 0:
        if first_step:
            momentum_buffer[...] = grad
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * grad
        grad = grad + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * grad


def adam_update(param, grad, exp_avg, exp_avg_sq, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                weight_decay=0.0, decoupled_weight_decay=False, maximize=False, max_exp_avg_sq=None):
    """One Adam (AdamW with decoupled_weight_decay) step in place, PyTorch's rule (written out in
    minicnn.optim.adam's docstring). ``step`` is t, counted from 1 (this step included);
    max_exp_avg_sq given means amsgrad."""
    beta1, beta2 = betas
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            grad = grad + weight_decay * param         # a new array: the caller's grad stays as it was
    exp_avg *= beta1
    exp_avg += (1 - beta1) * grad
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        exp_avg_sq = max_exp_avg_sq

    bias_correction1 = 1 - beta1 ** step
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    update = np.sqrt(exp_avg_sq)                       # becomes the denominator, then the update
    update /= bias_correction2_sqrt
    update += eps
    np.divide(exp_avg, update, out=update)
    update *= lr / bias_correction1
    param -= update
