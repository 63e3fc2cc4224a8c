"""`SGD`: stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

PyTorch's update, for a parameter p with gradient g (lr: learning rate, mu: momentum,
tau: dampening, lambda: weight decay):

    g <- g + lambda * p                              (L2 weight decay folded into the gradient)
    b <- g                      on the first step    (the momentum buffer starts AT the gradient,
    b <- mu * b + (1 - tau) * g afterwards            not at zero, and is not dampened then)
    g <- g + mu * b  (nesterov)   or   g <- b
    p <- p - lr * g

With momentum=0 this is plain gradient descent, p <- p - lr * (g + lambda * p).
The update itself is the kernel sgd_update (minicnn.kernels.cpu.elementwise: these lines in NumPy;
minicnn.kernels.cuda.elementwise on the GPU).
"""
from __future__ import annotations

from ..kernels.backend import kernels_for
from .optimizer import Optimizer


class SGD(Optimizer):
    """SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False).

    maximize=True climbs the objective instead (the gradient's sign is flipped).
    State per parameter: 'momentum_buffer' (only when momentum != 0).
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False):
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _check(self, options: dict) -> None:
        if options["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {options['lr']} (SGD needs lr >= 0)")
        if options["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {options['momentum']} (SGD needs momentum >= 0)")
        if options["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {options['weight_decay']} "
                             "(SGD needs weight_decay >= 0)")
        if options["nesterov"] and (options["momentum"] <= 0 or options["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening (got momentum="
                             f"{options['momentum']}, dampening={options['dampening']})")

    def _update(self, p, grad, group: dict) -> None:
        kernels = kernels_for(p.data)
        buf, first_step = None, False
        if group["momentum"] != 0:
            state = self.state[p]
            first_step = "momentum_buffer" not in state
            if first_step:                                 # set to the gradient by this first step
                state["momentum_buffer"] = kernels.full(p.shape, 0, p.dtype)
            buf = state["momentum_buffer"]
        kernels.sgd_update(p.data, grad, buf, group["lr"], group["momentum"], group["dampening"],
                           group["weight_decay"], group["nesterov"], group["maximize"], first_step)
