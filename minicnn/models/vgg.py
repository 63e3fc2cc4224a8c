"""VGG (Simonyan & Zisserman, 2014): the paper's configurations A, A-LRN, B, C, D, E.

A configuration lists the layers of `features`: an int c is a 3x3 conv with c channels (padding 1)
followed by ReLU (and BatchNorm before the ReLU when batch_norm=True), (c, 1) is a 1x1 conv (only in
C), "M" a 2x2 max-pool with stride 2, "LRN" a local response normalization (only in A-LRN).

    A  (vgg11)  8 conv + 3 FC        C  (16 layers, three 1x1 convs)
    B  (vgg13) 10 conv + 3 FC        D  (vgg16) 13 conv + 3 FC     E  (vgg19) 16 conv + 3 FC

torchvision's layout and key names (features.0.weight, classifier.0.weight, classifier.6.bias) and
initialisation. For 32x32 inputs the five max-pools leave a 1x1 map, so avgpool is
AdaptiveAvgPool2d(pool_size) with pool_size=1 (torchvision uses 7 for 224x224 inputs; with
pool_size=7, width_mult=1 and num_classes=1000 the models are torchvision's). width_mult scales every
conv width and the 4096-unit hidden layers (width_mult=1/8: 8-16-32-64-64 channels, 512 hidden).
"""
from __future__ import annotations

from .. import nn
from .common import kaiming_init_, scaled

CONFIGS = {
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "A-LRN": [64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "C": [64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M", 512, 512, (512, 1), "M",
          512, 512, (512, 1), "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
          512, 512, 512, 512, "M"],
}


def make_layers(config, in_channels: int = 3, width_mult: float = 1.0, batch_norm: bool = False):
    """The `features` Sequential of a configuration (a list as in CONFIGS)."""
    layers = []
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        elif item == "LRN":
            layers.append(nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0))
        else:
            channels, kernel = item if isinstance(item, tuple) else (item, 3)
            out = scaled(channels, width_mult)
            layers.append(nn.Conv2d(in_channels, out, kernel, padding=kernel // 2))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU())
            in_channels = out
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """features (conv stacks) -> avgpool -> classifier (3 fully connected layers with dropout)."""

    def __init__(self, features: nn.Sequential, num_classes: int = 10, width_mult: float = 1.0,
                 pool_size: int = 1, dropout: float = 0.5):
        super().__init__()
        channels = [m for m in features if isinstance(m, nn.Conv2d)][-1].out_channels
        hidden = scaled(4096, width_mult)
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((pool_size, pool_size))
        self.classifier = nn.Sequential(
            nn.Linear(channels * pool_size * pool_size, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes))
        kaiming_init_(self, linear_std=0.01)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def vgg(config: str = "D", num_classes: int = 10, width_mult: float = 1.0, batch_norm: bool = False,
        in_channels: int = 3, pool_size: int = 1, dropout: float = 0.5) -> VGG:
    """VGG of configuration 'A', 'A-LRN', 'B', 'C', 'D' or 'E' (see the module docstring)."""
    key = str(config).upper()
    if key not in CONFIGS:
        raise ValueError(f"vgg: unknown configuration {config!r}; the paper's are {', '.join(CONFIGS)}")
    features = make_layers(CONFIGS[key], in_channels, width_mult, batch_norm)
    return VGG(features, num_classes, width_mult, pool_size, dropout)


def vgg11(num_classes: int = 10, width_mult: float = 1.0, batch_norm: bool = False, **kwargs) -> VGG:
    """Configuration A: 8 conv layers + 3 fully connected."""
    return vgg("A", num_classes, width_mult, batch_norm, **kwargs)


def vgg13(num_classes: int = 10, width_mult: float = 1.0, batch_norm: bool = False, **kwargs) -> VGG:
    """Configuration B: 10 conv layers + 3 fully connected."""
    return vgg("B", num_classes, width_mult, batch_norm, **kwargs)


def vgg16(num_classes: int = 10, width_mult: float = 1.0, batch_norm: bool = False, **kwargs) -> VGG:
    """Configuration D: 13 conv layers + 3 fully connected."""
    return vgg("D", num_classes, width_mult, batch_norm, **kwargs)


def vgg19(num_classes: int = 10, width_mult: float = 1.0, batch_norm: bool = False, **kwargs) -> VGG:
    """Configuration E: 16 conv layers + 3 fully connected."""
    return vgg("E", num_classes, width_mult, batch_norm, **kwargs)
