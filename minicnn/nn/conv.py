"""`Conv2d`: a 2-D convolution layer that owns its weight and bias, PyTorch's arguments and defaults."""
from __future__ import annotations

import numpy as np

from ..functional.conv import _conv2d
from ..functional.padding import pad as _pad
from ..kernels.shape_rules import pair, same_padding
from . import init
from .module import Module, Parameter


class Conv2d(Module):
    """y = conv2d(x, weight, bias): x (N, in_channels, H, W) -> (N, out_channels, Ho, Wo).

    weight: (out_channels, in_channels / groups, kh, kw), bias: (out_channels,), both initialised as
    PyTorch does (kaiming_uniform_(a=sqrt(5)); bias uniform in +-1/sqrt(fan_in)).
    padding: an int, an (h, w) pair, 'valid' or 'same' (stride 1 only).
    padding_mode: 'zeros' (inside the kernel), 'reflect', 'replicate' or 'circular' (F.pad first).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, padding_mode: str = "zeros", dtype=np.float32):
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"Conv2d: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
                             f"got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "Conv2d: kernel_size")
        self.stride, self.dilation = pair(stride, "Conv2d: stride"), pair(dilation, "Conv2d: dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Conv2d: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = pair(padding, "Conv2d: padding")
        self.padding_mode = padding_mode
        self.weight = Parameter(np.empty((out_channels, in_channels // groups, *self.kernel_size), dtype))
        self.bias = Parameter(np.empty(out_channels, dtype)) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        init.default_init_(self.weight, self.bias)

    def forward(self, x):
        padding = self.padding
        if self.padding_mode != "zeros":
            if padding == "same":
                (top, bottom), (left, right) = (same_padding(k, d) for k, d in zip(self.kernel_size, self.dilation))
            elif padding == "valid":
                top = bottom = left = right = 0
            else:
                (top, left), (bottom, right) = padding, padding
            x, padding = _pad(x, (left, right, top, bottom), mode=self.padding_mode), (0, 0)
        return _conv2d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups,
                       repr(self))

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s
