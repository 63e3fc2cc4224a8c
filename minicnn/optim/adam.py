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
element by lr * sign(g). The update itself is the kernel adam_update
(minicnn.kernels.cpu.elementwise: these lines in NumPy; minicnn.kernels.cuda on the GPU).
"""
from __future__ import annotations

from ..kernels.backend import kernels_for
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

    def _update(self, p, grad, group: dict) -> None:
        kernels = kernels_for(p.data)
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = kernels.full(p.shape, 0, p.dtype)
            state["exp_avg_sq"] = kernels.full(p.shape, 0, p.dtype)
        if group["amsgrad"] and "max_exp_avg_sq" not in state:
            state["max_exp_avg_sq"] = kernels.full(p.shape, 0, p.dtype)
        state["step"] += 1
        kernels.adam_update(p.data, grad, state["exp_avg"], state["exp_avg_sq"], state["step"], group["lr"],
                            group["betas"], group["eps"], group["weight_decay"], group["decoupled_weight_decay"],
                            group["maximize"], state["max_exp_avg_sq"] if group["amsgrad"] else None)


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
    maximize=False): Adam with decoupled weight decay, p <- p * (1 - lr * weight_decay) each step."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
