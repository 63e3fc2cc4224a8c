"""ResNet (He et al., 2015) and its shortcut-free twin PlainNet, for 32x32 inputs.

A residual block learns F(x) and outputs relu(F(x) + x): when the best block is close to the
identity, F only has to be close to 0, which plain stacks of layers find hard to learn (the
"degradation" experiment: a 56-layer plain net trains worse than a 20-layer one; with shortcuts it
does not). PlainNet is the same network with the `+ x` removed.

    BasicBlock   3x3 conv-BN-ReLU, 3x3 conv-BN, + shortcut, ReLU                (ResNet-18/34, CIFAR nets)
    Bottleneck   1x1 conv-BN-ReLU, 3x3 conv-BN-ReLU, 1x1 conv (4x wider)-BN, + shortcut, ReLU (50+)

The shortcut is the identity, except where a stage halves the map and widens the channels: there
it is a 1x1 conv with stride 2 followed by BN (the paper's option B), `downsample`.

Two layouts, both with torchvision's key names (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0,
fc) and initialisation:
- CIFAR (depth = 6n + 2: resnet20/32/44/56/110): a 3x3 conv with 16 channels, three stages of n
  blocks with 16, 32, 64 channels on 32x32, 16x16, 8x8 maps, global average pool, fc.
- ImageNet depths 18, 34, 50, 101, 152: four stages with 64, 128, 256, 512 channels. For 32x32
  inputs the stem is a 3x3 stride-1 conv without max-pool (stem="small", the default);
  stem="imagenet" gives torchvision's 7x7 stride-2 conv and 3x3 max-pool for 224x224 inputs.
"""
from __future__ import annotations

from .. import nn
from .common import kaiming_init_, scaled


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); shortcut=False drops the addition."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None, shortcut: bool = True):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.add_module("downsample", downsample)
        self.shortcut = shortcut

    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        if self.shortcut:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    """1x1 (reduce) -> 3x3 -> 1x1 (expand x4), each with BN, + shortcut, ReLU."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None, shortcut: bool = True):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU()
        self.add_module("downsample", downsample)
        self.shortcut = shortcut

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.shortcut:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class ResNet(nn.Module):
    """conv1-bn1-relu(-maxpool) -> layer1..layerK -> global avg-pool -> fc."""

    def __init__(self, block, layers, num_classes: int = 10, in_channels: int = 3, widths=(64, 128, 256, 512),
                 stem: str = "small", shortcut: bool = True, width_mult: float = 1.0):
        super().__init__()
        if stem not in ("small", "imagenet"):
            raise ValueError(f"ResNet: stem must be 'small' (3x3 conv, for 32x32 inputs) or 'imagenet' "
                             f"(7x7 stride-2 conv + max-pool), got {stem!r}")
        widths = [scaled(w, width_mult) for w in widths]
        self.inplanes = widths[0]
        self.shortcut = shortcut
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = conv3x3(in_channels, self.inplanes)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU()
        if stem == "imagenet":
            self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        for i, (planes, blocks) in enumerate(zip(widths, layers)):
            setattr(self, f"layer{i + 1}", self._make_layer(block, planes, blocks, 1 if i == 0 else 2))
        self.num_stages = len(layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)
        kaiming_init_(self)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if self.shortcut and (stride != 1 or self.inplanes != planes * block.expansion):
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.shortcut)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, shortcut=self.shortcut) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if "maxpool" in self._modules:
            x = self.maxpool(x)
        for i in range(self.num_stages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(self.avgpool(x).flatten(1))


_IMAGENET_DEPTHS = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]),
                    50: (Bottleneck, [3, 4, 6, 3]), 101: (Bottleneck, [3, 4, 23, 3]),
                    152: (Bottleneck, [3, 8, 36, 3])}


def resnet(depth: int, num_classes: int = 10, in_channels: int = 3, width_mult: float = 1.0,
           stem: str = "small", shortcut: bool = True) -> ResNet:
    """ResNet of a given depth: 18, 34, 50, 101, 152 (four stages) or 6n+2 (CIFAR's three stages)."""
    if depth in _IMAGENET_DEPTHS:
        block, layers = _IMAGENET_DEPTHS[depth]
        widths = (64, 128, 256, 512)
    elif depth >= 8 and (depth - 2) % 6 == 0:
        block, layers, widths = BasicBlock, [(depth - 2) // 6] * 3, (16, 32, 64)
    else:
        raise ValueError(f"resnet: depth {depth} is neither 6n+2 (CIFAR nets: 20, 32, 44, 56, 110, ...) "
                         f"nor one of {sorted(_IMAGENET_DEPTHS)}")
    return ResNet(block, layers, num_classes, in_channels, widths, stem, shortcut, width_mult)


def plainnet(depth: int, num_classes: int = 10, in_channels: int = 3, width_mult: float = 1.0,
             stem: str = "small") -> ResNet:
    """The ResNet of this depth without shortcuts, for the degradation experiment."""
    return resnet(depth, num_classes, in_channels, width_mult, stem, shortcut=False)


def resnet20(num_classes: int = 10, **kwargs) -> ResNet:
    return resnet(20, num_classes, **kwargs)


def resnet32(num_classes: int = 10, **kwargs) -> ResNet:
    return resnet(32, num_classes, **kwargs)


def resnet56(num_classes: int = 10, **kwargs) -> ResNet:
    return resnet(56, num_classes, **kwargs)


def resnet18(num_classes: int = 10, **kwargs) -> ResNet:
    """ResNet-18 with a 3x3 stem for 32x32 inputs (stem='imagenet' for torchvision's)."""
    return resnet(18, num_classes, **kwargs)
