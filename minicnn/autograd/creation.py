"""Ways to make tensors: `tensor`, `zeros`, `ones`, `randn`, `arange`, `cat`, `stack`."""
from __future__ import annotations

import numpy as np

from . import ops
from .random import get_rng
from .tensor import Tensor, _as_array


def tensor(data, requires_grad: bool = False, dtype=None) -> Tensor:
    """A new Tensor holding a copy of `data` (float32 unless float64 data or `dtype` says otherwise)."""
    return Tensor(np.array(_as_array(data, dtype), copy=True), requires_grad=requires_grad)


def _shape(size):
    return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list)) else tuple(size)


def zeros(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_shape(size), dtype), requires_grad=requires_grad)


def ones(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_shape(size), dtype), requires_grad=requires_grad)


def full(size, fill_value, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    return Tensor(np.full(tuple(size), fill_value, dtype), requires_grad=requires_grad)


def zeros_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros_like(t.data), requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones_like(t.data), requires_grad=requires_grad)


def randn(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from the library's seeded generator."""
    return Tensor(get_rng().standard_normal(_shape(size)).astype(dtype), requires_grad=requires_grad)


def rand(*size, dtype=np.float32, requires_grad: bool = False) -> Tensor:
    """Uniform [0, 1) samples from the library's seeded generator."""
    return Tensor(get_rng().random(_shape(size)).astype(dtype), requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None) -> Tensor:
    """Like torch.arange: integers give int64, any float gives float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        floats = any(isinstance(v, float) for v in (start, end, step))
        dtype = np.float32 if floats else np.int64
    return Tensor(np.arange(start, end, step, dtype=dtype))


def _lift_all(tensors):
    tensors = [t if isinstance(t, Tensor) else Tensor(_as_array(t)) for t in tensors]
    if not tensors:
        raise ValueError("expected a non-empty list of tensors")
    return tensors


def cat(tensors, dim: int = 0) -> Tensor:
    """Join tensors along an existing axis (e.g. channels of Inception branches: dim=1)."""
    tensors = _lift_all(tensors)
    ndim = tensors[0].ndim
    if any(t.ndim == 0 for t in tensors):
        raise ValueError("cat: zero-dimensional tensors cannot be concatenated; use stack() to make "
                         "a new axis")
    for i, t in enumerate(tensors):
        if t.ndim != ndim or any(a != b for k, (a, b) in enumerate(zip(t.shape, tensors[0].shape))
                                 if k != dim % ndim):
            raise ValueError(f"cat along dim {dim}: tensor {i} has shape {t.shape}, which does not match "
                             f"tensor 0's shape {tensors[0].shape} outside dim {dim}")
    return ops.Cat.apply(dim % ndim, *tensors)


def stack(tensors, dim: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    tensors = _lift_all(tensors)
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack expects tensors of equal shape: tensor {i} has {t.shape}, "
                             f"tensor 0 has {tensors[0].shape}")
    return ops.Stack.apply(dim % (tensors[0].ndim + 1), *tensors)
