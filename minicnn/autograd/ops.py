"""Elementary differentiable ops: arithmetic, reductions and shape changes.

Each op is a `Function` with its forward and backward side by side. Forward
and backward see NumPy arrays. Broadcasting needs no code here: the engine
sums each returned gradient back to its input's shape (`unbroadcast`).

The ops marked `runs_on_gpu` also take numba.cuda device arrays: they compute
with `kernels_for(a)` (np.add for a NumPy array, a numba.cuda kernel for a
device array), only change the shape, or move the array; the others run on
the CPU only.
"""
from __future__ import annotations

import numpy as np

from ..kernels.backend import kernels_for, to_device, to_host
from .function import Function


def normalize_dims(dim, ndim: int) -> tuple:
    """None -> every axis; an int or a sequence -> a tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    return tuple(d % ndim if ndim else 0 for d in dims)


# ------------------------------------------------------------------ arithmetic
class Add(Function):
    runs_on_gpu = True      # same shapes only on the GPU (residual connections)

    @staticmethod
    def forward(ctx, a, b):
        return kernels_for(a).add(a, b)         # a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, -g


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, g * a


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a / b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g / b, -g * a / (b * b)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Pow(Function):
    """a ** p for a constant exponent p."""

    @staticmethod
    def forward(ctx, a, p):
        ctx.save_for_backward(a)
        ctx.p = p
        return a ** a.dtype.type(p)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        p = a.dtype.type(ctx.p)
        if p == 0:  # x ** 0 is constant; avoid 0 * inf at x = 0
            return np.zeros_like(g), None
        return g * p * a ** (p - 1), None


class PowTensor(Function):
    """a ** b with both sides differentiable (d/db = a**b * log a, defined for a > 0)."""

    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            gb = np.where(a > 0, g * out * np.log(np.where(a > 0, a, 1)), 0)
        return g * b * a ** (b - 1), gb


class MatMul(Function):
    """a @ b for 1-D, 2-D and batched (N-D) operands, NumPy's rules."""

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: both operands need at least one dimension (use * for scalars)")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} do not fit: the last dimension of the first "
                f"({a.shape[-1]}) must equal the {'second-to-last' if b.ndim > 1 else 'only'} dimension "
                f"of the second ({b.shape[-2 if b.ndim > 1 else 0]})")
        if a.ndim > 2 and b.ndim > 2:
            try:
                np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
            except ValueError:
                raise ValueError(f"matmul: batch dimensions {a.shape[:-2]} of {a.shape} and {b.shape[:-2]} of "
                                 f"{b.shape} do not broadcast (each pair must be equal or 1)") from None
        ctx.save_for_backward(a, b)
        return a @ b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        a2 = a[None, :] if a.ndim == 1 else a          # treat vectors as 1xK / Kx1 matrices
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g                                          # restore the axes the vectors dropped:
        if b.ndim == 1:                                 # b's last axis first, so a 0-d g (vector @ vector)
            g2 = np.expand_dims(g2, -1)                 # becomes (1, 1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = g2 @ np.swapaxes(b2, -1, -2)
        gb = np.swapaxes(a2, -1, -2) @ g2
        if a.ndim == 1:
            ga = ga.reshape(ga.shape[:-2] + (a.shape[0],)) if ga.ndim > 2 else ga.reshape(a.shape)
        if b.ndim == 1:
            gb = gb.reshape(gb.shape[:-2] + (b.shape[0],)) if gb.ndim > 2 else gb.reshape(b.shape)
        return ga, gb


# ------------------------------------------------------------- unary math
class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g * out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g / a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        return g / (2 * out)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        return g * np.sign(a)


class Clamp(Function):
    """Clip to [lo, hi]; the gradient passes where the value was not clipped."""

    @staticmethod
    def forward(ctx, a, lo, hi):
        ctx.save_for_backward(a)
        ctx.lo, ctx.hi = lo, hi
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved_tensors
        keep = np.ones(a.shape, bool)
        if ctx.lo is not None:
            keep &= a >= ctx.lo
        if ctx.hi is not None:
            keep &= a <= ctx.hi
        return g * keep, None, None


class Cast(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return kernels_for(a).astype(a, dtype)

    @staticmethod
    def backward(ctx, g):
        return kernels_for(g).astype(g, ctx.dtype), None


class ToDevice(Function):
    """A copy on the GPU (device "cuda") or on the host ("cpu"); the gradient is copied back."""

    runs_on_gpu = True

    @staticmethod
    def forward(ctx, a, device):
        ctx.device = device
        return to_device(a) if device == "cuda" else to_host(a)

    @staticmethod
    def backward(ctx, g):
        return (to_host(g) if ctx.device == "cuda" else to_device(g)), None


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


# --------------------------------------------------------------- reductions
class Sum(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.shape, ctx.dims, ctx.keepdim = a.shape, dims, keepdim
        return np.asarray(a.sum(axis=dims, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.dims)
        return np.broadcast_to(g, ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, dims, keepdim):
        ctx.shape, ctx.dims, ctx.keepdim = a.shape, dims, keepdim
        ctx.count = int(np.prod([a.shape[d] for d in dims]))
        return np.asarray(a.mean(axis=dims, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.dims)
        return np.broadcast_to(g / g.dtype.type(ctx.count), ctx.shape), None, None


class MaxAll(Function):
    """max over every element; ties share the gradient evenly (as PyTorch's max())."""

    @staticmethod
    def forward(ctx, a):
        out = np.asarray(a.max())
        ctx.save_for_backward(a, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, out = ctx.saved_tensors
        mask = a == out
        return g * mask / mask.sum()


class MaxDim(Function):
    """max along one axis; the gradient goes to the first maximal element (argmax)."""

    @staticmethod
    def forward(ctx, a, dim, keepdim):
        index = np.expand_dims(np.argmax(a, axis=dim), dim)
        ctx.save_for_backward(index)
        ctx.shape, ctx.dim, ctx.keepdim = a.shape, dim, keepdim
        out = np.take_along_axis(a, index, axis=dim)
        return out if keepdim else np.squeeze(out, dim)

    @staticmethod
    def backward(ctx, g):
        (index,) = ctx.saved_tensors
        if not ctx.keepdim:
            g = np.expand_dims(g, ctx.dim)
        grad = np.zeros(ctx.shape, g.dtype)
        np.put_along_axis(grad, index, g, axis=ctx.dim)
        return grad, None, None


# -------------------------------------------------------------- shape ops
class Reshape(Function):
    runs_on_gpu = True      # a view; on the GPU of a C-contiguous array (every kernel returns one)

    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"shape {tuple(shape)} is invalid for input of shape {a.shape} "
                             f"({a.size} elements)") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Permute(Function):
    @staticmethod
    def forward(ctx, a, dims):
        if sorted(dims) != list(range(a.ndim)):
            raise ValueError(f"permute: dims {dims} are not a permutation of the {a.ndim} axes")
        ctx.inverse = tuple(np.argsort(dims))
        return a.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse), None


class GetItem(Function):
    """x[index] for slices, ints, None, Ellipsis and integer/bool arrays."""

    @staticmethod
    def forward(ctx, a, index):
        ctx.shape, ctx.dtype, ctx.index = a.shape, a.dtype, index
        return np.asarray(a[index])

    @staticmethod
    def backward(ctx, g):
        grad = np.zeros(ctx.shape, ctx.dtype)
        parts = ctx.index if isinstance(ctx.index, tuple) else (ctx.index,)
        if all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in parts):
            grad[ctx.index] = g            # basic indexing picks each element at most once
        else:
            np.add.at(grad, ctx.index, g)  # index arrays may repeat an element: its gradients add up
        return grad, None


class Cat(Function):
    """Concatenate along `dim`; backward splits the gradient back into pieces."""

    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        ctx.bounds = np.cumsum([a.shape[dim] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return (None, *np.split(g, ctx.bounds, axis=ctx.dim))


class Stack(Function):
    @staticmethod
    def forward(ctx, dim, *arrays):
        ctx.dim = dim
        return np.stack(arrays, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return (None, *(np.take(g, i, axis=ctx.dim) for i in range(g.shape[ctx.dim])))
