"""Cross-entropy of logits against integer class targets, on the CPU (NumPy).

    log_p = log softmax(logits) = shifted - log(sum(exp(shifted))),  shifted = logits - max of the row
    loss_i = -sum_j q_ij log_p_ij,    q_i = (1 - s) one_hot(target_i) + s / C    (s: label smoothing)
    d loss_i / d logits_i = softmax(logits_i) - q_i = exp(log_p_i) - q_i

Subtracting the row maximum first keeps exp from overflowing for logits of +-1e4. ``reduction``:
"mean" (over the N rows), "sum", or "none" (the N losses).
"""
import numpy as np


def _target_distribution(target, n_classes, label_smoothing, dtype):
    """q (N, C): 1 - s + s / C at each row's target class, s / C elsewhere."""
    q = np.full((len(target), n_classes), label_smoothing / n_classes, dtype=dtype)
    q[np.arange(len(target)), target] += 1 - label_smoothing
    return q


def cross_entropy_forward(logits, target, reduction, label_smoothing):
    """(loss, log_p): the reduced loss (a 0-d array, or (N,) for reduction="none") and log_p (N, C),
    which the backward pass needs. logits (N, C) float, target (N,) integers in 0..C-1."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    losses = -(_target_distribution(target, logits.shape[1], label_smoothing, logits.dtype) * log_p).sum(axis=1)
    if reduction == "mean":
        return np.asarray(losses.mean(), logits.dtype), log_p
    if reduction == "sum":
        return np.asarray(losses.sum(), logits.dtype), log_p
    return losses, log_p


def cross_entropy_backward(gy, log_p, target, reduction, label_smoothing):
    """g_logits (N, C) = (softmax - q) times gy (divided by N for "mean"; gy (N,) row by row for "none")."""
    grad = np.exp(log_p) - _target_distribution(target, log_p.shape[1], label_smoothing, log_p.dtype)
    if reduction == "mean":
        grad *= gy / len(grad)
    elif reduction == "sum":
        grad *= gy
    else:
        grad *= gy[:, None]
    return grad
