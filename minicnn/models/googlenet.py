"""GoogLeNet / Inception v1 (Szegedy et al., 2014), reduced for 32x32 inputs.

An Inception module runs four branches side by side on the same input and concatenates their
outputs along the channels (`minicnn.cat(..., dim=1)`):

    naive:    1x1 conv | 3x3 conv | 5x5 conv | 3x3 max-pool
    reduced:  1x1 conv | 1x1 -> 3x3 conv | 1x1 -> 5x5 conv | 3x3 max-pool -> 1x1 conv

The 1x1 "reduction" convs are what make the module affordable: a 5x5 conv 192 -> 32 on 28x28 costs
(28*28*32)*(5*5*192) = 120.4M multiplications, but a 1x1 conv 192 -> 16 first brings it down to
(28*28*16)*192 + (28*28*32)*(5*5*16) = 12.4M (`minicnn.summary` prints these numbers). The naive
module's pooling branch also passes all its input channels through, so its width can only grow.

The network keeps torchvision's names (conv1, conv2, conv3, inception3a ... inception5b, aux1, aux2,
fc; BasicConv2d = conv + bn + ReLU) and channel counts (scaled by width_mult), with the paper's 5x5
convs in the third branch (torchvision uses 3x3 there). Reduced for 32x32: the 7x7 stride-2 stem and
its max-pool become a 3x3 conv, so the inception stages see 16x16, 8x8 and 4x4 maps.

In training with aux_logits=True, forward returns GoogLeNetOutputs(logits, aux_logits2, aux_logits1),
torchvision's named tuple: the two auxiliary classifiers after inception4a and 4d add extra gradient
to the middle of the network (the paper weights their losses by 0.3). In eval it returns the logits.
"""
from __future__ import annotations

from collections import namedtuple

from .. import functional as F
from .. import nn
from .common import kaiming_init_, scaled

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"])


class BasicConv2d(nn.Module):
    """conv (no bias when followed by BN) -> BatchNorm (optional, eps=0.001 as torchvision) -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 batch_norm: bool = True):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=not batch_norm)
        self.add_module("bn", nn.BatchNorm2d(out_channels, eps=0.001) if batch_norm else None)
        self.relu = nn.ReLU()
        self.out_channels = out_channels

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.relu(x)


class NaiveInception(nn.Module):
    """1x1, 3x3 and 5x5 convs and a 3x3 max-pool in parallel; out = ch1x1 + ch3x3 + ch5x5 + in_channels."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3: int, ch5x5: int, batch_norm: bool = True):
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, batch_norm=batch_norm)
        self.branch2 = BasicConv2d(in_channels, ch3x3, 3, padding=1, batch_norm=batch_norm)
        self.branch3 = BasicConv2d(in_channels, ch5x5, 5, padding=2, batch_norm=batch_norm)
        self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + in_channels

    def forward(self, x):
        return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class Inception(nn.Module):
    """The module with 1x1 reductions (torchvision's arguments); out = ch1x1 + ch3x3 + ch5x5 + pool_proj."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int, batch_norm: bool = True):
        super().__init__()
        bn = batch_norm
        self.branch1 = BasicConv2d(in_channels, ch1x1, 1, batch_norm=bn)
        self.branch2 = nn.Sequential(BasicConv2d(in_channels, ch3x3red, 1, batch_norm=bn),
                                     BasicConv2d(ch3x3red, ch3x3, 3, padding=1, batch_norm=bn))
        self.branch3 = nn.Sequential(BasicConv2d(in_channels, ch5x5red, 1, batch_norm=bn),
                                     BasicConv2d(ch5x5red, ch5x5, 5, padding=2, batch_norm=bn))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                     BasicConv2d(in_channels, pool_proj, 1, batch_norm=bn))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x):
        return F.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionAux(nn.Module):
    """Auxiliary classifier: avg-pool to 4x4, 1x1 conv 128, fc 1024, ReLU, dropout 0.7, fc classes."""

    def __init__(self, in_channels: int, num_classes: int, width_mult: float = 1.0, batch_norm: bool = True,
                 dropout: float = 0.7):
        super().__init__()
        width, hidden = scaled(128, width_mult), scaled(1024, width_mult)
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))
        self.conv = BasicConv2d(in_channels, width, 1, batch_norm=batch_norm)
        self.fc1 = nn.Linear(width * 4 * 4, hidden)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x):
        x = self.conv(self.avgpool(x)).flatten(1)
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


# (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) of each module, from the paper's table
_STAGES = {
    "3a": (64, 96, 128, 16, 32, 32), "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64), "4b": (160, 112, 224, 24, 64, 64), "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64), "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128), "5b": (384, 192, 384, 48, 128, 128),
}


class GoogLeNet(nn.Module):
    """Inception v1 for 32x32 inputs; see the module docstring."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width_mult: float = 1.0,
                 aux_logits: bool = True, batch_norm: bool = True, dropout: float = 0.2,
                 dropout_aux: float = 0.7):
        super().__init__()
        self.aux_logits = aux_logits
        bn = batch_norm
        s = lambda c: scaled(c, width_mult)  # noqa: E731
        self.conv1 = BasicConv2d(in_channels, s(64), 3, padding=1, batch_norm=bn)
        self.conv2 = BasicConv2d(s(64), s(64), 1, batch_norm=bn)
        self.conv3 = BasicConv2d(s(64), s(192), 3, padding=1, batch_norm=bn)
        self.maxpool2 = nn.MaxPool2d(3, 2, padding=1)                  # 32 -> 16
        channels = s(192)
        for name in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
            module = Inception(channels, *(s(c) for c in _STAGES[name]), batch_norm=bn)
            setattr(self, "inception" + name, module)
            channels = module.out_channels
            if name == "3b":
                self.maxpool3 = nn.MaxPool2d(3, 2, padding=1)          # 16 -> 8
            if name == "4e":
                self.maxpool4 = nn.MaxPool2d(3, 2, padding=1)          # 8 -> 4
        if aux_logits:
            self.aux1 = InceptionAux(self.inception4a.out_channels, num_classes, width_mult, bn, dropout_aux)
            self.aux2 = InceptionAux(self.inception4d.out_channels, num_classes, width_mult, bn, dropout_aux)
        else:
            self.add_module("aux1", None)
            self.add_module("aux2", None)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(channels, num_classes)
        kaiming_init_(self)

    def forward(self, x):
        x = self.maxpool2(self.conv3(self.conv2(self.conv1(x))))
        x = self.maxpool3(self.inception3b(self.inception3a(x)))
        x = self.inception4a(x)
        aux1 = self.aux1(x) if self.aux1 is not None and self.training else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if self.aux2 is not None and self.training else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        x = self.fc(self.dropout(self.avgpool(x).flatten(1)))
        if self.training and self.aux_logits:
            return GoogLeNetOutputs(x, aux2, aux1)
        return x


def googlenet(num_classes: int = 10, width_mult: float = 1.0, aux_logits: bool = True, in_channels: int = 3,
              batch_norm: bool = True, dropout: float = 0.2) -> GoogLeNet:
    """GoogLeNet reduced for 32x32 inputs; in training with aux_logits, returns GoogLeNetOutputs."""
    return GoogLeNet(num_classes, in_channels, width_mult, aux_logits, batch_norm, dropout)
