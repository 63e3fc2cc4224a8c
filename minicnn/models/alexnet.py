"""AlexNet (Krizhevsky et al., 2012) and ZFNet (Zeiler & Fergus, 2013), reduced for 32x32 inputs.

torchvision's layout (features / avgpool / classifier), so keys read features.0.weight,
classifier.1.weight, ... At width_mult=1 the conv widths are AlexNet's 64-192-384-256-256 (as in
torchvision); what is reduced is the first layer (5x5 stride 1 instead of 11x11 stride 4 on 224x224),
the pooled map (3x3 instead of 6x6) and the hidden layers (1024 units instead of 4096).

    conv 5x5 64, ReLU, [LRN], max-pool 3/2        32 -> 32 -> 15
    conv 5x5 192, ReLU, [LRN], max-pool 3/2       15 -> 15 -> 7
    conv 3x3 384, ReLU; conv 3x3 256, ReLU; conv 3x3 256, ReLU; max-pool 3/2    7 -> 3
    adaptive avg-pool 3x3; dropout, linear 1024, ReLU, dropout, linear 1024, ReLU, linear classes

The max-pools overlap (3x3 windows, stride 2), as in the paper. LRN (size 5, alpha 1e-4, beta 0.75,
k 2, the paper's values) follows the first two ReLUs when lrn=True.

ZFNet looked at AlexNet's first-layer filters, found them coarse and aliased, and made the first
layer smaller (11x11 stride 4 -> 7x7 stride 2); the reduced ZFNet here shrinks 5x5 to 3x3.
"""
from __future__ import annotations

from .. import nn
from .common import scaled


class AlexNet(nn.Module):
    """AlexNet for small images; see the module docstring for the layers."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, width_mult: float = 1.0,
                 lrn: bool = True, dropout: float = 0.5, conv1_kernel: int = 5):
        super().__init__()
        c1, c2, c3, c4, c5 = (scaled(c, width_mult) for c in (64, 192, 384, 256, 256))
        hidden = scaled(1024, width_mult)

        def norm():
            return [nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)] if lrn else []

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, conv1_kernel, padding=conv1_kernel // 2), nn.ReLU(), *norm(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), *norm(), nn.MaxPool2d(3, 2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((3, 3))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(c5 * 3 * 3, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def alexnet(num_classes: int = 10, in_channels: int = 3, width_mult: float = 1.0, lrn: bool = True,
            dropout: float = 0.5) -> AlexNet:
    """AlexNet reduced for 32x32 inputs (ReLU, overlapping max-pool, dropout, optional LRN)."""
    return AlexNet(num_classes, in_channels, width_mult, lrn, dropout)


def zfnet(num_classes: int = 10, in_channels: int = 3, width_mult: float = 1.0, lrn: bool = True,
          dropout: float = 0.5) -> AlexNet:
    """ZFNet: AlexNet with a smaller first-layer filter (3x3 here, 7x7 stride 2 in the paper)."""
    return AlexNet(num_classes, in_channels, width_mult, lrn, dropout, conv1_kernel=3)
