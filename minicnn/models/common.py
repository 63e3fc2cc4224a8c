"""Small helpers shared by the model families: channel scaling and weight initialisation."""
from __future__ import annotations

from .. import nn


def scaled(channels: int, width_mult: float) -> int:
    """channels * width_mult, rounded, at least 1 (width_mult=1/8 turns VGG's 512 into 64)."""
    if width_mult <= 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")
    return max(1, int(round(channels * width_mult)))


def kaiming_init_(model: nn.Module, linear_std: float | None = None) -> nn.Module:
    """He initialisation for every Conv2d (normal, fan_out, ReLU gain; bias 0), as torchvision's
    VGG and ResNet do; with linear_std, Linear weights ~ N(0, linear_std) and bias 0 (VGG)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model
