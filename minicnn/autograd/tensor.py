"""`Tensor`: an array plus what autograd needs to differentiate through it.

A Tensor holds `data` (a NumPy array), `requires_grad`, `grad` (a Tensor or
None) and, when an op produced it, `grad_fn` (the graph node to walk back
through). Operators (`+`, `*`, `@`, `x[0]`, ...) and methods (`sum`,
`reshape`, ...) call the elementary ops in `ops.py`, which are ordinary
`Function` subclasses.

On the GPU, `data` is a numba.cuda device array instead (`x.to("cuda")`,
`x.device == "cuda"`); `numpy()`, `item()` and printing copy it to the host.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..kernels.backend import device_of, is_device_array, kernels_for, to_host
from . import engine
from .function import is_grad_enabled, no_gpu_kernel

_FLOATS = (np.float16, np.float32, np.float64)
MaxResult = namedtuple("MaxResult", ["values", "indices"])


def _as_array(data, dtype=None) -> np.ndarray:
    """float32 unless the data is already a float64/float16 array or integer/bool data."""
    if isinstance(data, Tensor):
        data = data.data
    if is_device_array(data):                 # stays on the GPU
        return data if dtype is None or data.dtype == dtype else kernels_for(data).astype(data, dtype)
    if dtype is not None:
        return np.asarray(data, dtype=np.dtype(dtype))
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        arr = np.asarray(data)
        return arr if arr.dtype.kind in "biuf" or arr.dtype.kind == "c" else arr.astype(np.float32)
    arr = np.asarray(data)
    if arr.dtype.kind == "f":
        return arr.astype(np.float32)
    return arr


class Tensor:
    """A node-carrying array. See the module docstring."""

    __array_priority__ = 1000  # so ndarray + Tensor calls Tensor.__radd__

    def __init__(self, data, requires_grad: bool = False, *, _node=None, _index: int = 0):
        self.data = data if isinstance(data, np.ndarray) or is_device_array(data) else _as_array(data)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating point tensors can require gradients, got dtype {self.data.dtype}")
        self.requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None
        self._node = _node
        self._index = _index
        self._retains_grad = False

    # ----------------------------------------------------------------- basics
    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)          # a device array's shape may be a tuple subclass

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def device(self) -> str:
        """"cpu" (a NumPy array) or "cuda" (a numba.cuda device array)."""
        return device_of(self.data)

    @property
    def grad_fn(self):
        return self._node

    @property
    def is_leaf(self) -> bool:
        return self._node is None

    def size(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied), whether or not grad is required; for a tensor
        on the GPU, a copy on the host."""
        return to_host(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.numpy().item()

    def tolist(self):
        return self.numpy().tolist()

    def _host_data(self, name: str) -> np.ndarray:
        """`data` for a NumPy-only method; a tensor on the GPU raises the no-GPU-kernel error."""
        if is_device_array(self.data):
            raise no_gpu_kernel(f"Tensor.{name}")
        return self.data

    def detach(self) -> "Tensor":
        """The same data, cut off from the graph."""
        return Tensor(self.data)

    def clone(self) -> "Tensor":
        return _ops.Clone.apply(self)

    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        if not self.is_leaf:
            raise RuntimeError("requires_grad_() can only change leaf tensors; use detach() first")
        if requires_grad and self.dtype.kind != "f":
            raise TypeError(f"only floating point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = bool(requires_grad)  # .grad is kept, as in PyTorch
        return self

    def retain_grad(self) -> None:
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep it)."""
        self._retains_grad = True

    def zero_(self) -> "Tensor":
        self.data[...] = 0
        return self

    def float(self) -> "Tensor":
        return self.to(np.float32)

    def double(self) -> "Tensor":
        return self.to(np.float64)

    def long(self) -> "Tensor":
        return Tensor(kernels_for(self.data).astype(self.data, np.int64))

    def to(self, dtype_or_device) -> "Tensor":
        """Cast to a dtype, or copy to a device: "cuda" (the GPU) or "cpu" (the host); both are
        differentiable. A tensor already on that device (or dtype) is returned as it is."""
        if dtype_or_device is None:
            return self
        if isinstance(dtype_or_device, str) and dtype_or_device in ("cpu", "cuda"):
            return self if dtype_or_device == self.device else _ops.ToDevice.apply(self, dtype_or_device)
        return _ops.Cast.apply(self, np.dtype(dtype_or_device))

    def cpu(self) -> "Tensor":
        """This tensor on the host (itself when it is there already)."""
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        """This tensor on the GPU (itself when it is there already)."""
        return self.to("cuda")

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires grad, into `leaf.grad`.

        `grad` may be left out only for a single-element tensor (a loss); otherwise
        pass d(loss)/d(self) with the same shape as `self`.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn: "
                "nothing to differentiate (was it computed under no_grad(), or from tensors "
                "created without requires_grad=True?)")
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"grad can be implicitly created only for scalar outputs; this tensor has shape "
                    f"{self.shape}: call backward(grad) with a gradient of that shape, or reduce "
                    "it first (e.g. loss.sum() or loss.mean())")
            grad = kernels_for(self.data).full(self.shape, 1, self.dtype)
        else:
            grad = _as_array(grad, self.dtype)
            if tuple(grad.shape) != self.shape:
                raise RuntimeError(f"backward: grad has shape {grad.shape}, expected {self.shape}")
        engine.backward(self, grad, retain_graph=retain_graph)

    def __repr__(self) -> str:
        data = self.numpy()
        finite = data[np.isfinite(data)] if self.dtype.kind == "f" else data
        fixed = self.dtype.kind == "f" and np.any(finite != np.round(finite))  # 1.5000 as torch; 2. stays 2.
        body = np.array2string(data, separator=", ", prefix="tensor(", precision=4,
                               floatmode="fixed" if fixed else "maxprec")
        extras = ["device='cuda:0'"] if self.device == "cuda" else []
        if self.dtype not in (np.float32, np.int64) and self.dtype.kind != "b":
            extras.append(f"dtype={self.dtype}")
        if self._node is not None:
            extras.append(f"grad_fn={self._node!r}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + body + "".join(", " + e for e in extras) + ")"

    def __bool__(self):
        return bool(self.numpy())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __hash__(self):
        return id(self)

    def __array__(self, dtype=None, copy=None):
        if is_device_array(self.data):        # as PyTorch: no silent copy from the GPU
            raise TypeError("can't convert a tensor on the GPU (device 'cuda') to a NumPy array: "
                            "use .numpy() or .cpu() to copy it to the host first")
        return self.data if dtype is None else self.data.astype(dtype)

    # ---------------------------------------------------------- arithmetic
    def _lift(self, other) -> "Tensor":
        if isinstance(other, Tensor):
            return other
        return Tensor(np.asarray(other, dtype=self.dtype if self.dtype.kind == "f" else None))

    def __add__(self, other):
        return _ops.Add.apply(self, self._lift(other))

    def __radd__(self, other):
        return _ops.Add.apply(self._lift(other), self)

    def __sub__(self, other):
        return _ops.Sub.apply(self, self._lift(other))

    def __rsub__(self, other):
        return _ops.Sub.apply(self._lift(other), self)

    def __mul__(self, other):
        return _ops.Mul.apply(self, self._lift(other))

    def __rmul__(self, other):
        return _ops.Mul.apply(self._lift(other), self)

    def __truediv__(self, other):
        return _ops.Div.apply(self, self._lift(other))

    def __rtruediv__(self, other):
        return _ops.Div.apply(self._lift(other), self)

    def __neg__(self):
        return _ops.Neg.apply(self)

    def __pow__(self, exponent):
        if isinstance(exponent, Tensor) or np.ndim(exponent) > 0:
            return _ops.PowTensor.apply(self, self._lift(exponent))
        return _ops.Pow.apply(self, float(exponent))

    def __rpow__(self, base):
        return _ops.PowTensor.apply(self._lift(base), self)

    def __matmul__(self, other):
        return _ops.MatMul.apply(self, self._lift(other))

    def __rmatmul__(self, other):
        return _ops.MatMul.apply(self._lift(other), self)

    def __getitem__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        return _ops.GetItem.apply(self, index)

    def __setitem__(self, index, value):
        if self.requires_grad and is_grad_enabled():
            raise RuntimeError("in-place assignment into a tensor that requires grad; "
                               "wrap it in no_grad() or build a new tensor")
        self.data[index] = value.data if isinstance(value, Tensor) else value

    # comparisons give plain boolean tensors (no gradient), like PyTorch
    def _compare(self, other, op):
        other = other._host_data(op.__name__) if isinstance(other, Tensor) else other
        return Tensor(op(self._host_data(op.__name__), other))

    def __eq__(self, other):
        return self._compare(other, np.equal)

    def __ne__(self, other):
        return self._compare(other, np.not_equal)

    def __lt__(self, other):
        return self._compare(other, np.less)

    def __le__(self, other):
        return self._compare(other, np.less_equal)

    def __gt__(self, other):
        return self._compare(other, np.greater)

    def __ge__(self, other):
        return self._compare(other, np.greater_equal)

    # ------------------------------------------------------------- methods
    def exp(self):
        return _ops.Exp.apply(self)

    def log(self):
        return _ops.Log.apply(self)

    def sqrt(self):
        return _ops.Sqrt.apply(self)

    def abs(self):
        return _ops.Abs.apply(self)

    def clamp(self, min=None, max=None):
        return _ops.Clamp.apply(self, min, max)

    def sum(self, dim=None, keepdim: bool = False):
        return _ops.Sum.apply(self, _ops.normalize_dims(dim, self.ndim), keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        return _ops.Mean.apply(self, _ops.normalize_dims(dim, self.ndim), keepdim)

    def var(self, dim=None, keepdim: bool = False, unbiased: bool = True):
        dims = _ops.normalize_dims(dim, self.ndim)
        count = int(np.prod([self.shape[d] for d in dims]))
        centered = self - self.mean(dim=dims, keepdim=True)
        return (centered * centered).sum(dim=dims, keepdim=keepdim) / (count - 1 if unbiased else count)

    def max(self, dim: int | None = None, keepdim: bool = False):
        """max() -> Tensor; max(dim) -> (values, indices) like PyTorch."""
        if dim is None:
            return _ops.MaxAll.apply(self)
        values = _ops.MaxDim.apply(self, dim % self.ndim, keepdim)
        indices = np.argmax(self._host_data("max"), axis=dim)
        return MaxResult(values, Tensor(np.expand_dims(indices, dim) if keepdim else indices))

    def argmax(self, dim: int | None = None, keepdim: bool = False):
        data = self._host_data("argmax")
        if dim is None:
            return Tensor(np.asarray(np.argmax(data)))
        out = np.argmax(data, axis=dim)
        return Tensor(np.expand_dims(out, dim) if keepdim else out)

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _ops.Reshape.apply(self, tuple(shape))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        if self.ndim == 0:
            return self.reshape(1)
        start, end = start_dim % self.ndim, end_dim % self.ndim
        shape = self.shape[:start] + (-1,) + self.shape[end + 1:]
        return self.reshape(shape)

    def permute(self, *dims):
        dims = dims[0] if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        return _ops.Permute.apply(self, tuple(d % self.ndim for d in dims))

    def transpose(self, dim0: int, dim1: int):
        dims = list(range(self.ndim))
        dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        return self.permute(dims)

    @property
    def T(self):
        return self.permute(tuple(reversed(range(self.ndim))))

    def unsqueeze(self, dim: int):
        dim = dim % (self.ndim + 1)
        return self.reshape(self.shape[:dim] + (1,) + self.shape[dim:])

    def squeeze(self, dim: int | None = None):
        if dim is None:
            return self.reshape(tuple(n for n in self.shape if n != 1))
        dim = dim % self.ndim
        if self.shape[dim] != 1:
            return self
        return self.reshape(self.shape[:dim] + self.shape[dim + 1:])


from . import ops as _ops  # noqa: E402  (ops subclass Function and build Tensors)
