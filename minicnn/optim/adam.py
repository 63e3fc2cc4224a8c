"""`Adam` and `AdamW`: one update rule, two ways to apply weight decay.

PyTorch's update at step t = 1, 2, ... for a parameter p with gradient g
(lr, betas = (b1, b2), eps, lambda: weight decay):

    Adam:   g <- g + lambda * p                  (L2 decay, passes through the moments)
    AdamW:  p <- p * (1 - lr * lambda)           (decoupled decay, never enters the moments)
    m <- b1 * m + (1 - b1) * g                   (first moment, starts at 0)
    v <- b2 * v + (1 - b2) * g * g               (second moment, starts at 0)
    v_max <- max(v_max, v)   and use v_max for v below   (amsgrad=True only)
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)

The factors 1 - b^t undo the pull of the zero start towards 0 in early steps
("bias correction"): with a constant gradient the very first step moves each
element by lr * sign(g).
"""
from __future__ import annotations

import numpy as np

from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    maximize=False, decoupled_weight_decay=False).

    decoupled_weight_decay=True makes it AdamW. State per parameter: 'step' (an int),
    'exp_avg' (m), 'exp_avg_sq' (v) and, with amsgrad, 'max_exp_avg_sq' (v_max).
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _check(self, options: dict) -> None:
        name = type(self).__name__
        if not 0.0 <= options["lr"]:
            raise ValueError(f"Invalid learning rate: {options['lr']} ({name} needs lr >= 0)")
        if not 0.0 <= options["eps"]:
            raise ValueError(f"Invalid epsilon value: {options['eps']} ({name} needs eps >= 0)")
        betas = options["betas"]
        if len(betas) != 2:
            raise ValueError(f"{name} expects betas=(beta1, beta2), got {betas}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta} ({name} needs 0 <= beta < 1)")
        if not 0.0 <= options["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {options['weight_decay']} "
                             f"({name} needs weight_decay >= 0)")

    def _update(self, p, grad: np.ndarray, group: dict) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p.data)
            state["exp_avg_sq"] = np.zeros_like(p.data)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = np.zeros_like(p.data)
        if group["maximize"]:
            grad = -grad
        state["step"] += 1
        step = state["step"]

        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                p.data *= 1 - lr * weight_decay
            else:
                grad = grad + weight_decay * p.data     # a new array: p.grad stays as backward left it

        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        exp_avg *= beta1
        exp_avg += (1 - beta1) * grad
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            np.maximum(state["max_exp_avg_sq"], exp_avg_sq, out=state["max_exp_avg_sq"])
            exp_avg_sq = state["max_exp_avg_sq"]

        bias_correction1 = 1 - beta1 ** step
        bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
        update = np.sqrt(exp_avg_sq)                    # becomes the denominator, then the update
        update /= bias_correction2_sqrt
        update += eps
        np.divide(exp_avg, update, out=update)
        update *= lr / bias_correction1
        p.data -= update


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
    maximize=False): Adam with decoupled weight decay, p <- p * (1 - lr * weight_decay) each step."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
