"""`Optimizer`: the base class of SGD, Adam and AdamW, shaped like `torch.optim.Optimizer`.

An optimizer holds `param_groups`, a list of dicts: each has `"params"` (a list
of Parameters) plus that group's options (`"lr"`, `"weight_decay"`, ...), so
one model can train its backbone and its head with different learning rates:

    opt = SGD([{"params": model.features.parameters()},
               {"params": model.classifier.parameters(), "lr": 1e-2}], lr=1e-3, momentum=0.9)

`step()` visits every parameter whose `.grad` is not None and calls the
subclass's `_update(p, grad, group)`, which changes `p.data` in place (so the
Module holding `p` sees the new values) with an update kernel
(`kernels_for(p.data).sgd_update`: whole-array NumPy operations on the CPU,
minicnn.kernels.cpu.elementwise; a numba.cuda kernel on the GPU).
Per-parameter buffers (momentum, Adam's moments) live in `self.state[p]`, a
dict of arrays and numbers, created at the first step where the parameter
lives. `state_dict()` writes parameters as indices, in PyTorch's layout, so a
checkpoint never holds the weights twice, and its arrays are host copies.
"""
from __future__ import annotations

import copy
import warnings
from collections import defaultdict

import numpy as np

from ..autograd import Tensor, enable_grad
from ..kernels.backend import is_device_array, to_host, to_like


class Optimizer:
    """Base class: subclasses define `_check(options)` and `_update(p, grad, group)`."""

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self._check(defaults)
        self.state: defaultdict = defaultdict(dict)   # Parameter -> {name: array or number}
        self.param_groups: list[dict] = []
        self._step_calls = 0                          # read by LR schedulers to spot a wrong call order
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of Tensors or "
                            f"dicts, but got a single Tensor of shape {params.shape}; wrap it in a list")
        if hasattr(params, "parameters") and callable(params.parameters):
            raise TypeError(f"{type(self).__name__} was given the module {type(params).__name__} itself; "
                            "pass its parameters instead: "
                            f"{type(self).__name__}(model.parameters(), ...)")
        groups = [{"params": params}] if isinstance(params, set) else list(params)  # a set: refused below
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # ---------------------------------------------------------------- groups
    def _check(self, options: dict) -> None:
        """Raise ValueError for an invalid option value (each optimizer knows its own rules)."""

    def add_param_group(self, param_group: dict) -> None:
        """Add a dict {"params": [...], option: value, ...}; options left out take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but the "
                            "ordering of tensors in sets will change between runs. Please use a list instead.")
        group["params"] = list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params is "
                                f"{type(p).__module__}.{type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor (one computed from others); "
                                 "optimize the leaf Parameters it was computed from")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check(group)
        if len({id(p) for p in group["params"]}) != len(group["params"]):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; "
                          "each duplicate would be updated more than once per step", stacklevel=3)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    # ------------------------------------------------------------------ steps
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: `.grad = None` (default), or fill them with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient; returns closure()'s loss when given one.

        closure: optional callable that zeroes the gradients, recomputes the loss,
        calls loss.backward() and returns the loss.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._step_calls += 1
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self._update(p, p.grad.data, group)
        return loss

    def _update(self, p: Tensor, grad: np.ndarray, group: dict) -> None:
        raise TypeError(f"{type(self).__name__} must define _update(p, grad, group) to be an optimizer")

    # ------------------------------------------------------------- state dict
    def state_dict(self) -> dict:
        """{'state': {index: {name: array or number}}, 'param_groups': [{..., 'params': [indices]}]}.

        Parameters are numbered 0, 1, ... in the order of `param_groups`, as in
        PyTorch. The arrays are copies: a saved dict does not change as training goes on.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = copy.deepcopy({k: v for k, v in group.items() if k != "params"})
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: {k: np.array(to_host(v), copy=True) if _is_array(v) else v
                                for k, v in s.items()}
                 for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Take over options and buffers saved by `state_dict()` (from an optimizer of the same shape).

        Arrays are copied and cast to their parameter's dtype, onto its device; 'step' counters stay numbers.
        """
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has a different number of parameter groups "
                             f"({len(saved_groups)}) than this optimizer ({len(self.param_groups)})")
        if any(len(s["params"]) != len(g["params"]) for s, g in zip(saved_groups, self.param_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                             "optimizer's group (saved sizes "
                             f"{[len(s['params']) for s in saved_groups]}, here "
                             f"{[len(g['params']) for g in self.param_groups]})")
        by_index = {int(i): p for saved, group in zip(saved_groups, self.param_groups)
                    for i, p in zip(saved["params"], group["params"])}
        state: defaultdict = defaultdict(dict)
        for i, saved in state_dict["state"].items():
            if int(i) not in by_index:
                raise ValueError(f"loaded state dict holds state for parameter {i}, but its param_groups "
                                 f"only list parameters {sorted(by_index)}")
            p = by_index[int(i)]
            state[p] = {k: _number(v) if k == "step" else
                        to_like(np.array(_array(v), dtype=p.dtype, copy=True), p.data)
                        for k, v in saved.items()}
        self.state = state
        for saved, group in zip(saved_groups, self.param_groups):
            saved["params"] = group["params"]
        self.param_groups = saved_groups

    # --------------------------------------------------------------- printing
    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])


def _array(value) -> np.ndarray:
    """A host array of a Tensor (on either device), a device array or anything array-like."""
    return to_host(value.data if isinstance(value, Tensor) else value) if _is_array(value) else np.asarray(value)


def _is_array(value) -> bool:
    return isinstance(value, (np.ndarray, Tensor)) or is_device_array(value)


def _number(value):
    """A step counter as a Python number (it may arrive as a 0-d array or tensor)."""
    return _array(value).item()
