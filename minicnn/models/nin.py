"""Network in Network (Lin, Chen & Yan, 2013), its CIFAR-10 model.

Each "mlpconv" block is a spatial conv followed by two 1x1 convs: a small fully connected network
slid over every pixel. The last block outputs one map per class and global average pooling turns
each map into that class's score, so the net has no fully connected layers at all.

    conv 5x5 192, 1x1 160, 1x1 96, max-pool 3/2, dropout      32 -> 16
    conv 5x5 192, 1x1 192, 1x1 192, avg-pool 3/2, dropout     16 -> 8
    conv 3x3 192, 1x1 192, 1x1 classes, global avg-pool        8 -> 1
(ReLU after every conv but the last: the class maps are averaged as they are.)
"""
from __future__ import annotations

from .. import nn
from .common import scaled


def _mlpconv(in_channels, widths, kernel_size, last_relu=True):
    layers = []
    for i, out in enumerate(widths):
        k = kernel_size if i == 0 else 1
        layers.append(nn.Conv2d(in_channels, out, k, padding=k // 2))
        if last_relu or i < len(widths) - 1:
            layers.append(nn.ReLU())
        in_channels = out
    return layers


class NIN(nn.Module):
    """features (three mlpconv blocks) -> global average pool -> flatten: (N, num_classes)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width_mult: float = 1.0,
                 dropout: float = 0.5):
        super().__init__()
        s = lambda c: scaled(c, width_mult)  # noqa: E731
        self.features = nn.Sequential(
            *_mlpconv(in_channels, [s(192), s(160), s(96)], 5),
            nn.MaxPool2d(3, 2, padding=1), nn.Dropout(dropout),
            *_mlpconv(s(96), [s(192), s(192), s(192)], 5),
            nn.AvgPool2d(3, 2, padding=1), nn.Dropout(dropout),
            *_mlpconv(s(192), [s(192), s(192), num_classes], 3, last_relu=False))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x):
        return self.avgpool(self.features(x)).flatten(1)


def nin(num_classes: int = 10, in_channels: int = 3, width_mult: float = 1.0, dropout: float = 0.5) -> NIN:
    """Network in Network for 32x32 inputs: mlpconv blocks (1x1 convs) and global average pooling."""
    return NIN(num_classes, in_channels, width_mult, dropout)
