"""`Function`: the base class of every differentiable operation.

An op is a subclass with two static methods side by side:

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):          # arrays in, array out
            ctx.save_for_backward(a, b)
            return a * b
        @staticmethod
        def backward(ctx, grad):         # d(loss)/d(out) in, d(loss)/d(input) out
            a, b = ctx.saved_tensors
            return grad * b, grad * a

`backward` must not modify its gradient arguments in place: one gradient
array may be handed to several nodes (x + y passes the same one to both), and
some are read-only broadcast views. Return new arrays instead.

`Mul.apply(x, y)` unwraps Tensor arguments to their arrays, runs `forward`,
wraps the result in a Tensor and, when any input requires grad, records the
node (`grad_fn`) that `Tensor.backward` later visits. This is the shape of
`torch.autograd.Function`, except that `forward`/`backward` see plain arrays:
the kernels below them never meet a Tensor.

On the GPU the arrays are numba.cuda device arrays, and an op computes with
``kernels_for(x)`` (minicnn.kernels.cpu or .cuda, picked by the array). An op
that does so sets ``runs_on_gpu = True``; `apply` refuses device arrays for
every other op, with an error naming it, instead of letting NumPy copy them to
the host behind the user's back.
"""
from __future__ import annotations

import contextlib
import threading

from ..kernels.backend import as_array, is_device_array, kernels_for

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless inside `no_grad()`."""
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def _grad_mode(enabled: bool):
    previous = is_grad_enabled()
    _state.grad_enabled = enabled
    try:
        yield
    finally:
        _state.grad_enabled = previous


def no_grad():
    """Context manager (and decorator) that records no graph, like `torch.no_grad()`."""
    return _grad_mode(False)


def enable_grad():
    """Context manager that turns graph recording back on inside `no_grad()`."""
    return _grad_mode(True)


class Context:
    """What `forward` hands to `backward`: saved arrays plus any attribute."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = needs_input_grad
        self._saved = ()

    def save_for_backward(self, *arrays):
        self._saved = arrays

    @property
    def saved_tensors(self):
        if self._saved is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time: its saved arrays were "
                "freed after the first backward. Pass retain_graph=True to the first backward().")
        return self._saved


class Node:
    """One recorded application of a Function: the graph edge list of a Tensor."""

    __slots__ = ("function", "ctx", "inputs", "outputs", "__weakref__")

    def __init__(self, function, ctx, inputs, outputs):
        self.function = function   # the Function subclass
        self.ctx = ctx
        self.inputs = inputs       # tuple of Tensor-or-None, one per forward argument
        self.outputs = outputs     # tuple of (shape, dtype), one per output

    def name(self) -> str:
        return f"{self.function.__name__}Backward0"  # PyTorch's spelling, e.g. MulBackward0

    def __repr__(self):
        return f"<{self.name()}>"


class NoGPUKernelError(RuntimeError):
    """An op that runs on the CPU only was given a tensor on the GPU."""


def no_gpu_kernel(name: str) -> NoGPUKernelError:
    """The error for an op that was given a tensor on the GPU but only runs on the CPU."""
    return NoGPUKernelError(
        f"{name}: no GPU kernel yet: this op runs on the CPU only (NumPy arrays) and was given a tensor "
        "on the GPU (device 'cuda'). Copy it to the host first with .cpu(), or build the model from "
        "layers that run on the GPU (convolution, pooling, batch norm, ReLU/tanh/sigmoid, Flatten, "
        "Linear, residual additions, cross_entropy).")


def _check_devices(cls, tensors) -> None:
    """Device arrays only for an op that runs on the GPU, and never mixed with host arrays."""
    on_gpu = {is_device_array(t.data) for t in tensors}
    if True in on_gpu and not cls.runs_on_gpu:
        raise no_gpu_kernel(cls.__name__)
    if len(on_gpu) > 1:
        raise RuntimeError(f"{cls.__name__}: expected all tensors on the same device, got tensors on 'cpu' "
                           "and on 'cuda'; move them with .to('cuda') (or .cpu()) first")


class Function:
    """Base class of autograd operations; see the module docstring."""

    runs_on_gpu = False   # True: forward and backward also take numba.cuda device arrays

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise TypeError("a Function subclass must define a static forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise TypeError("a Function subclass must define a static backward(ctx, *grad_outputs)")

    @classmethod
    def apply(cls, *args, **kwargs):
        from .tensor import Tensor

        is_tensor = [isinstance(a, Tensor) for a in args]
        _check_devices(cls, [a for t, a in zip(is_tensor, args) if t])
        needs = tuple(t and a.requires_grad for t, a in zip(is_tensor, args))
        record = is_grad_enabled() and any(needs)
        ctx = Context(needs)
        arrays = [a.data if t else a for t, a in zip(is_tensor, args)]
        with no_grad():
            out = cls.forward(ctx, *arrays, **kwargs)
        many = isinstance(out, tuple)
        outs = tuple(as_array(o) for o in (out if many else (out,)))
        node = None
        if record:
            inputs = tuple(a if t else None for t, a in zip(is_tensor, args))
            node = Node(cls, ctx, inputs, tuple((o.shape, o.dtype) for o in outs))
        tensors = []
        for i, o in enumerate(outs):
            grad = record and o.dtype.kind == "f"  # integer outputs (indices) are never differentiable
            tensors.append(Tensor(o, requires_grad=grad, _node=node if grad else None, _index=i))
        return tuple(tensors) if many else tensors[0]


def unbroadcast(grad, shape: tuple):
    """Sum `grad` over the axes that broadcasting added or stretched, giving `shape`
    (the kernels' sum_to_shape: minicnn.kernels.cpu.elementwise)."""
    if tuple(grad.shape) == tuple(shape):
        return grad
    return kernels_for(grad).sum_to_shape(grad, shape)
