"""`Module` and `Parameter`: the base of every layer and model, as in PyTorch.

A Module owns Parameters (trainable Tensors), buffers (non-trained state such
as BatchNorm's running mean) and sub-modules, all found by attribute
assignment: `self.fc = Linear(4, 2)` registers `fc`, and its weight appears
in `state_dict()` as `fc.weight`, the key PyTorch would use. Each module has
its own `training` flag, set recursively by `train()` / `eval()`; ops never
read a global mode.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from ..autograd import Tensor
from ..kernels.backend import kernels_for, to_device, to_host

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Parameter(Tensor):
    """A Tensor that a Module trains: requires_grad=True, found by `parameters()`."""

    def __init__(self, data, requires_grad: bool = True):
        if isinstance(data, Tensor):
            data = data.data
        array = np.asarray(data)
        if array.dtype.kind != "f":
            array = array.astype(np.float32)
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class RemovableHandle:
    """Returned by `register_forward_hook`; `remove()` unregisters the hook."""

    _next_id = 0

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self):
        self._hooks.pop(self.id, None)


def _as_array(value) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


class Module:
    """Base class for layers and models: subclass it and define `forward`."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ------------------------------------------------------------ attributes
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() was called: "
                                 f"call super().__init__() first in {type(self).__name__}.__init__")
        if isinstance(value, (Parameter, Module)):
            for store in (self._parameters, self._buffers, self._modules):
                store.pop(name, None)
            self.__dict__.pop(name, None)
            (self._parameters if isinstance(value, Parameter) else self._modules)[name] = value
        elif name in self._buffers:
            self._buffers[name] = None if value is None else (
                value if isinstance(value, Tensor) else Tensor(np.asarray(value)))
        elif name in self._parameters or name in self._modules:
            if value is not None:
                kind = "parameter" if name in self._parameters else "module"
                raise TypeError(f"cannot assign {type(value).__name__} as {kind} {name!r} of "
                                f"{type(self).__name__} ({'Parameter' if kind == 'parameter' else 'Module'} "
                                "or None expected)")
            (self._parameters if name in self._parameters else self._modules)[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # only called when normal lookup fails
        for store in ("_parameters", "_buffers", "_modules"):
            d = self.__dict__.get(store)
            if d is not None and name in d:
                return d[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __dir__(self):
        """Parameters, buffers and sub-modules too, so a REPL can tab-complete `model.fc1`."""
        return sorted(set(super().__dir__()) | set(self._parameters) | set(self._buffers) | set(self._modules))

    def __delattr__(self, name):
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        self._parameters[name] = param

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        """Non-trained state saved in state_dict (e.g. BatchNorm's running_mean)."""
        self._buffers[name] = None if value is None else (
            value if isinstance(value, Tensor) else Tensor(np.asarray(value)))
        if not persistent:
            self._non_persistent.add(name)

    def add_module(self, name: str, module: "Module | None") -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: {name!r} must be a Module (e.g. nn.ReLU(), not F.relu), "
                            f"got {type(module).__name__}")
        self._modules[name] = module

    # ------------------------------------------------------------- traversal
    def named_modules(self, prefix: str = ""):
        """(name, module) for this module and every descendant, depth first."""
        stack = [(prefix, self)]
        seen = set()
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items() if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool):
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in getattr(module, store).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_parameters", prefix, recurse)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_buffers", prefix, recurse)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn) -> "Module":
        """Call fn(module) on every descendant and then on self (PyTorch's order)."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> "Module":
        """Set this module's flag and call each child's train(mode), so a subclass may override it."""
        object.__setattr__(self, "training", bool(mode))
        for child in self.children():
            child.train(mode)
        return self

    def eval(self) -> "Module":
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> "Module":
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    def to(self, target) -> "Module":
        """Move floating parameters and buffers (and their gradients) to a device, "cuda" (the GPU:
        numba.cuda device arrays) or "cpu" (the host), or cast them to a dtype. In place: the
        Parameter objects stay the same, so an optimizer made before still holds them (and creates
        its state, lazily, where they are). Integer buffers (BatchNorm's num_batches_tracked, a
        counter Python updates) stay on the host."""
        if isinstance(target, str) and target in ("cpu", "cuda"):
            convert = to_device if target == "cuda" else to_host
        else:
            dtype = np.dtype(target)

            def convert(array):
                return kernels_for(array).astype(array, dtype)
        for m in self.modules():
            for store in (m._parameters, m._buffers):
                for t in store.values():
                    if t is not None and t.dtype.kind == "f":
                        t.data = convert(t.data)
                        if t.grad is not None:
                            t.grad.data = convert(t.grad.data)
        return self

    def cuda(self) -> "Module":
        return self.to("cuda")

    def cpu(self) -> "Module":
        return self.to("cpu")

    def double(self) -> "Module":
        return self.to(np.float64)

    def float(self) -> "Module":
        return self.to(np.float32)

    # ------------------------------------------------------------ state dict
    def state_dict(self, prefix: str = "") -> "OrderedDict[str, Tensor]":
        """Parameters and persistent buffers by PyTorch-style dotted names (detached, shared data)."""
        state = OrderedDict()
        for module_name, module in self.named_modules(prefix.rstrip(".")):
            base = f"{module_name}." if module_name else ""
            for name, p in module._parameters.items():
                if p is not None:
                    state[base + name] = p.detach()
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    state[base + name] = b.detach()
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy values (NumPy arrays or Tensors) into parameters and buffers, by name.

        With strict=True a missing or unexpected key is an error; a shape mismatch always is.
        """
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        if strict and (missing or unexpected):
            if missing:
                problems.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ".")
            if unexpected:
                problems.append("Unexpected key(s) in state_dict: " + ", ".join(f'"{k}"' for k in unexpected) + ".")
        for key, target in own.items():
            if key in state_dict:
                value = _as_array(state_dict[key])
                if value.shape != target.shape:
                    problems.append(f'size mismatch for {key}: copying a param with shape {value.shape} '
                                    f'from checkpoint, the shape in current model is {target.shape}.')
        if problems:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(problems))
        for key, target in own.items():
            if key in state_dict:
                target.data[...] = _as_array(state_dict[key])  # shared with the live tensor
        return IncompatibleKeys(missing, unexpected)

    # ---------------------------------------------------------------- calling
    def forward(self, *args, **kwargs):
        raise TypeError(f"{type(self).__name__} does not define forward(); every Module subclass must")

    def register_forward_hook(self, hook) -> RemovableHandle:
        """hook(module, inputs, output) runs after forward; a non-None return replaces the output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """hook(module, inputs) runs before forward; a non-None return replaces the inputs."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    # --------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [line for line in self.extra_repr().split("\n") if line]
        for name, module in self._modules.items():
            body = repr(module).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        main = type(self).__name__ + "("
        if not lines:
            return main + ")"
        if len(lines) == 1 and not self._modules:
            return main + lines[0] + ")"
        return main + "\n  " + "\n  ".join(lines) + "\n)"
