"""F.pad: constant (zero by default) padding of the last dimensions, PyTorch's argument order.

    F.pad(x, (left, right))                      pads the last dimension
    F.pad(x, (left, right, top, bottom))         pads W then H of an (N, C, H, W) image
    F.pad(x, (l, r, t, b, front, back))          and so on, last dimension first

Its gradient is the gradient of the output with the padding cut off again.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function


class Pad(Function):
    @staticmethod
    def forward(ctx, x, widths, value):
        ctx.inside = tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape))
        y = np.full(tuple(n + before + after for (before, after), n in zip(widths, x.shape)), value, x.dtype)
        y[ctx.inside] = x
        return y

    @staticmethod
    def backward(ctx, gy):
        return gy[ctx.inside], None, None


def pad(input, pad, mode="constant", value=0.0):
    """Pad ``input`` with ``value``; ``pad`` lists (before, after) widths from the last dimension back."""
    if mode != "constant":
        raise NotImplementedError(f"pad: only mode='constant' is implemented, got mode={mode!r}")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected an even number of widths, at most 2 per dimension of the "
                         f"{input.ndim}-D input, got {pad}")
    if any(int(p) != p or p < 0 for p in pad):
        raise ValueError(f"pad: widths must be non-negative ints, got {pad}")
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)]   # last dimension first
    widths = [(0, 0)] * (input.ndim - len(pairs)) + pairs[::-1]
    return Pad.apply(input, tuple(widths), value)
