"""Padding layers: `ZeroPad2d` and `ConstantPad2d` (e.g. a 28x28 MNIST digit to LeNet-5's 32x32)."""
from __future__ import annotations

from .. import functional as F
from .module import Module


def _four(padding, name):
    """int -> (p, p, p, p); a 4-tuple stays (left, right, top, bottom)."""
    if isinstance(padding, int):
        return (padding,) * 4
    padding = tuple(padding)
    if len(padding) != 4:
        raise ValueError(f"{name}: padding must be an int or a 4-tuple (left, right, top, bottom), "
                         f"got {padding}")
    return padding


class ConstantPad2d(Module):
    """Pad the last two dimensions with `value`: padding = p or (left, right, top, bottom)."""

    def __init__(self, padding, value: float):
        super().__init__()
        self.padding, self.value = _four(padding, type(self).__name__), value

    def forward(self, x):
        return F.pad(x, self.padding, value=self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dimensions with zeros: ZeroPad2d(2) turns 28x28 into 32x32."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"
