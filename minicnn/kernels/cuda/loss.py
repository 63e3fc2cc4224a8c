"""Cross-entropy of logits against integer class targets on the GPU: one thread per row.

The formulas are those of minicnn.kernels.cpu.loss (read its docstring), with the same arguments
and returns (device arrays; a NumPy target is copied to the GPU). A row's thread finds its maximum,
sums exp(logit - max) in float64, and writes the row's log-probabilities and loss; "mean" and "sum"
then add the N losses in one block (a shared-memory tree reduction, launch.block_sum).

The targets are not checked against 0..C-1 on the host here (that would copy them back and wait for
the GPU): a row whose target is out of range gets a NaN loss.
"""
import math

from numba import cuda, float64

from .launch import THREADS, as_device, block_sum, empty, flat, grid_1d


@cuda.jit(cache=True)
def _rows(logits, target, smoothing, log_p, losses):
    n, c = logits.shape
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        top = logits[i, 0]
        for j in range(1, c):
            top = max(top, logits[i, j])
        total = 0.0
        for j in range(c):
            total += math.exp(logits[i, j] - top)
        log_total = math.log(total)
        t = target[i]
        loss = 0.0
        for j in range(c):
            lp = logits[i, j] - top - log_total
            log_p[i, j] = lp
            q = smoothing / c + (1.0 - smoothing if j == t else 0.0)
            loss -= q * lp
        losses[i] = loss if 0 <= t < c else math.nan


@cuda.jit(cache=True)
def _total(values, scale, out):
    """out[0] = scale * the sum of values, by one block of THREADS threads."""
    partial = cuda.shared.array(THREADS, float64)
    s = 0.0
    for e in range(cuda.threadIdx.x, values.size, cuda.blockDim.x):
        s += values[e]
    s = block_sum(s, partial)
    if cuda.threadIdx.x == 0:
        out[0] = s * scale


@cuda.jit(cache=True)
def _grad(log_p, target, smoothing, gy, per_row, scale, grad):
    n, c = log_p.shape
    for e in range(cuda.grid(1), grad.size, cuda.gridsize(1)):
        i = e // c
        j = e % c
        q = smoothing / c + (1.0 - smoothing if j == target[i] else 0.0)
        g = gy[i] if per_row else gy[0]
        grad[i, j] = (math.exp(log_p[i, j]) - q) * g * scale


def cross_entropy_forward(logits, target, reduction, label_smoothing):
    """(loss, log_p): the reduced loss (a 0-d array, or (N,) for reduction="none") and log_p (N, C),
    which the backward pass needs. logits (N, C) float, target (N,) integers in 0..C-1."""
    logits = as_device(logits, name="logits")
    target = as_device(target, name="target")
    n = logits.shape[0]
    log_p = empty(logits.shape, logits.dtype)
    losses = empty(n, logits.dtype)
    if n:
        _rows[grid_1d(n)](logits, target, float(label_smoothing), log_p, losses)
    if reduction == "none":
        return losses, log_p
    loss = empty(1, logits.dtype)
    _total[1, THREADS](losses, 1.0 / n if reduction == "mean" and n else 1.0, loss)
    return loss.reshape(()), log_p


def cross_entropy_backward(gy, log_p, target, reduction, label_smoothing):
    """g_logits (N, C) = (softmax - q) times gy (divided by N for "mean"; gy (N,) row by row for "none")."""
    target = as_device(target, name="target")
    gy = flat(as_device(gy, log_p.dtype, "grad_output"), "grad_output")
    grad = empty(log_p.shape, log_p.dtype)
    scale = 1.0 / len(grad) if reduction == "mean" else 1.0
    if grad.size:
        _grad[grid_1d(grad.size)](log_p, target, float(label_smoothing), gy, reduction == "none", scale, grad)
    return grad
