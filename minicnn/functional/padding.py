"""F.pad: constant (zero by default) padding of the last dimensions, PyTorch's argument order.

    F.pad(x, (left, right))                      pads the last dimension
    F.pad(x, (left, right, top, bottom))         pads W then H of an (N, C, H, W) image
    F.pad(x, (l, r, t, b, front, back))          and so on, last dimension first

mode='constant' fills with `value`; 'reflect' mirrors without repeating the edge, 'replicate'
repeats the edge, 'circular' wraps around (PyTorch's modes; the last two spatial dimensions).
The gradient of constant padding is the output gradient with the padding cut off again. For the
other modes each output element is a copy of one input element: forward records which one (an
index array made by np.pad of the element numbers) and backward adds every copy's gradient back
onto its source (np.bincount).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function


_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


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


class PadCopies(Function):
    """reflect / replicate / circular padding: every output element copies one input element."""

    @staticmethod
    def forward(ctx, x, widths, mode):
        ctx.source = np.pad(np.arange(x.size).reshape(x.shape), widths, mode=_NUMPY_MODES[mode])
        ctx.shape = x.shape
        return x.reshape(-1)[ctx.source]

    @staticmethod
    def backward(ctx, gy):
        size = int(np.prod(ctx.shape))
        gx = np.bincount(ctx.source.reshape(-1), weights=gy.reshape(-1), minlength=size)
        return gx.reshape(ctx.shape).astype(gy.dtype), None, None


def pad(input, pad, mode="constant", value=0.0):
    """Pad ``input`` with ``value``; ``pad`` lists (before, after) widths from the last dimension back."""
    if mode != "constant" and mode not in _NUMPY_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ValueError(f"pad: expected an even number of widths, at most 2 per dimension of the "
                         f"{input.ndim}-D input, got {pad}")
    if any(int(p) != p or p < 0 for p in pad):
        raise ValueError(f"pad: widths must be non-negative ints, got {pad}")
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)]   # last dimension first
    widths = [(0, 0)] * (input.ndim - len(pairs)) + pairs[::-1]
    if mode == "constant":
        return Pad.apply(input, tuple(widths), value)
    if len(pairs) > input.ndim - 1:
        raise ValueError(f"pad: mode={mode!r} pads at most the last {input.ndim - 1} dimensions of a "
                         f"{input.ndim}-D input (the first one is the batch), got {len(pairs)} pairs")
    for (before, after), n in zip(widths, input.shape):
        limit = n - 1 if mode == "reflect" else n if mode == "circular" else None
        if limit is not None and max(before, after) > limit:
            raise ValueError(f"pad: {mode} padding of ({before}, {after}) is too wide for a dimension of "
                             f"size {n}: each width must be <= {'size - 1' if mode == 'reflect' else 'size'}")
    return PadCopies.apply(input, tuple(widths), mode)
