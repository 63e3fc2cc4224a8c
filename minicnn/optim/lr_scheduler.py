"""Learning-rate schedulers: `StepLR`, `MultiStepLR`, `ExponentialLR`, `CosineAnnealingLR`.

A scheduler rewrites `group["lr"]` of its optimizer's param groups each time
`scheduler.step()` is called (usually once per epoch, after the epoch's
`optimizer.step()` calls). As in PyTorch the rules are recursive: each new lr
is computed from the current `group["lr"]`, so schedulers can be chained,
and the numbers are PyTorch's. Creating a scheduler stores each group's
starting lr as `group["initial_lr"]` (the `base_lrs`) and counts as step 0.

    scheduler = CosineAnnealingLR(optimizer, T_max=10)
    for epoch in range(epochs):
        train_one_epoch(...)      # calls optimizer.step()
        scheduler.step()
"""
from __future__ import annotations

import math
import warnings
from collections import Counter

from .optimizer import Optimizer


class LRScheduler:
    """Base class: a subclass defines `get_lr()`, the lrs for epoch `self.last_epoch`."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(optimizer).__name__} is not an Optimizer")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                                   f"with last_epoch={last_epoch}; load the optimizer's state_dict first, or "
                                   "use last_epoch=-1 for a fresh run")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._is_initial = True
        self._optimizer_steps_at_start = optimizer._step_calls
        self.step()
        self._is_initial = False

    def get_lr(self) -> list:
        raise TypeError(f"{type(self).__name__} must define get_lr() to be a scheduler")

    def _current_lrs(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]

    def step(self) -> None:
        """Advance one epoch and write the new lrs into the optimizer's param groups."""
        if self._step_count == 1 and self.optimizer._step_calls == self._optimizer_steps_at_start:
            warnings.warn("Detected call of `lr_scheduler.step()` before `optimizer.step()`: call them in "
                          "the order optimizer.step() then scheduler.step(), otherwise the first value of "
                          "the learning-rate schedule is skipped.", UserWarning, stacklevel=2)
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = self._current_lrs()

    def get_last_lr(self) -> list:
        """The lrs the last `step()` set, one per param group."""
        return self._last_lr

    def state_dict(self) -> dict:
        """Every attribute except the optimizer (numbers, lists), as in PyTorch."""
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)


class StepLR(LRScheduler):
    """Multiply the lr by gamma every step_size epochs: lr_t = base_lr * gamma ** (t // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive number of epochs, got {step_size}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class MultiStepLR(LRScheduler):
    """Multiply the lr by gamma at each epoch listed in milestones (twice if listed twice)."""

    def __init__(self, optimizer: Optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        self.milestones = Counter(milestones)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        return [lr * self.gamma ** self.milestones[self.last_epoch] for lr in self._current_lrs()]


class ExponentialLR(LRScheduler):
    """Multiply the lr by gamma every epoch: lr_t = base_lr * gamma ** t."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        if self._is_initial:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]


class CosineAnnealingLR(LRScheduler):
    """Cosine from base_lr down to eta_min over T_max epochs (and back up over the next T_max).

    Closed form: lr_t = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2.
    Computed recursively from the current lr, as PyTorch does, which gives the
    closed form's numbers when nothing else changes the lr.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive number of epochs, got {T_max}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        if self._is_initial:
            return self._current_lrs()
        if (t - 1 - T) % (2 * T) == 0:    # leaving the minimum: the ratio below would divide by 0
            return [lr + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for lr, base_lr in zip(self._current_lrs(), self.base_lrs)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (lr - eta_min) + eta_min
                for lr in self._current_lrs()]
