"""LeNet-1, LeNet-4 and LeNet-5 (LeCun et al., 1989-1998), layer by layer as in the lecture table.

LeNet-5 (input 1x32x32):                                  output       parameters
    C1  conv 6@5x5 + tanh                                  6x28x28      6*(5*5*1+1)   =    156
    S2  avg-pool 2x2, stride 2                             6x14x14                          0
    C3  conv 16@5x5 + tanh                                 16x10x10     16*(5*5*6+1)  =  2,416
    S4  avg-pool 2x2, stride 2                             16x5x5                           0
    C5  conv 120@5x5 + tanh                                120x1x1      120*(5*5*16+1) = 48,120
    F6  linear 84 + tanh                                   84           84*(120+1)    = 10,164
    output  linear 10                                      10           10*(84+1)     =    850
                                                                                 total   61,706

C3 is fully connected to S2 (the 1998 paper used a sparse connection table) and the output is a
linear layer (the paper used RBF units); S2/S4 are plain average pools (the paper's had a trainable
coefficient and bias). `modern=True` swaps tanh -> ReLU and avg-pool -> max-pool, same parameters.
A 28x28 MNIST digit is padded to 32x32 (pad=2, or in the data pipeline); the architecture is fixed.

Parameter names follow the table: features.c1.weight, ..., classifier.f6.weight, classifier.output.bias.
"""
from __future__ import annotations

from collections import OrderedDict

from .. import nn


class _LeNet(nn.Module):
    """features -> flatten -> classifier, checking the input size the architecture was drawn for."""

    display_name = "LeNet"
    input_size = 32

    def __init__(self, features, classifier, in_channels: int, pad: int):
        super().__init__()
        self.in_channels, self.pad = in_channels, pad
        layers = ([("pad", nn.ZeroPad2d(pad))] if pad else []) + features
        self.features = nn.Sequential(OrderedDict(layers))
        self.classifier = nn.Sequential(OrderedDict(classifier))

    def forward(self, x):
        expected = (self.in_channels, self.input_size - 2 * self.pad, self.input_size - 2 * self.pad)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            hint = ""
            if x.ndim == 4 and x.shape[-1] == self.input_size - 4 and not self.pad:
                hint = (f"; a {x.shape[-2]}x{x.shape[-1]} image needs pad=2 (e.g. "
                        f"{type(self).__name__.lower()}(pad=2)) or padding in the data pipeline")
            raise ValueError(f"{self.display_name} expects input of shape (N, {expected[0]}, {expected[1]}, "
                             f"{expected[2]}), got {tuple(x.shape)}{hint}")
        return self.classifier(self.features(x).flatten(1))


class LeNet5(_LeNet):
    """LeNet-5: C1 conv 6@5x5, S2 pool, C3 conv 16@5x5, S4 pool, C5 conv 120@5x5, F6 84, output."""

    display_name = "LeNet-5"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, modern: bool = False, pad: int = 0):
        act = nn.ReLU if modern else nn.Tanh
        pool = nn.MaxPool2d if modern else nn.AvgPool2d
        super().__init__(
            [("c1", nn.Conv2d(in_channels, 6, 5)), ("act1", act()), ("s2", pool(2, 2)),
             ("c3", nn.Conv2d(6, 16, 5)), ("act3", act()), ("s4", pool(2, 2)),
             ("c5", nn.Conv2d(16, 120, 5)), ("act5", act())],
            [("f6", nn.Linear(120, 84)), ("act6", act()), ("output", nn.Linear(84, num_classes))],
            in_channels, pad)


class LeNet1(_LeNet):
    """LeNet-1 (28x28 input): conv 4@5x5, avg-pool, conv 12@5x5, avg-pool, 10 outputs.

    Fully connected between the two conv layers (the original used a sparse table), so it has
    104 + 1,212 + 1,930 = 3,246 parameters."""

    display_name = "LeNet-1"
    input_size = 28

    def __init__(self, num_classes: int = 10, in_channels: int = 1, pad: int = 0):
        super().__init__(
            [("c1", nn.Conv2d(in_channels, 4, 5)), ("act1", nn.Tanh()), ("s2", nn.AvgPool2d(2, 2)),
             ("c3", nn.Conv2d(4, 12, 5)), ("act3", nn.Tanh()), ("s4", nn.AvgPool2d(2, 2))],
            [("output", nn.Linear(12 * 4 * 4, num_classes))],
            in_channels, pad)


class LeNet4(_LeNet):
    """LeNet-4 (32x32 input): conv 4@5x5, avg-pool, conv 16@5x5, avg-pool, 120 hidden, 10 outputs.

    Fully connected throughout (the original's 16 maps were sparsely connected), so it has
    104 + 1,616 + 48,120 + 1,210 = 51,050 parameters."""

    display_name = "LeNet-4"

    def __init__(self, num_classes: int = 10, in_channels: int = 1, pad: int = 0):
        super().__init__(
            [("c1", nn.Conv2d(in_channels, 4, 5)), ("act1", nn.Tanh()), ("s2", nn.AvgPool2d(2, 2)),
             ("c3", nn.Conv2d(4, 16, 5)), ("act3", nn.Tanh()), ("s4", nn.AvgPool2d(2, 2))],
            [("f5", nn.Linear(16 * 5 * 5, 120)), ("act5", nn.Tanh()), ("output", nn.Linear(120, num_classes))],
            in_channels, pad)


def lenet5(num_classes: int = 10, in_channels: int = 1, modern: bool = False, pad: int = 0) -> LeNet5:
    """LeNet-5 for 32x32 inputs (61,706 parameters); pad=2 accepts 28x28 MNIST digits."""
    return LeNet5(num_classes, in_channels, modern, pad)


def lenet1(num_classes: int = 10, in_channels: int = 1, pad: int = 0) -> LeNet1:
    """LeNet-1 for 28x28 inputs."""
    return LeNet1(num_classes, in_channels, pad)


def lenet4(num_classes: int = 10, in_channels: int = 1, pad: int = 0) -> LeNet4:
    """LeNet-4 for 32x32 inputs; pad=2 accepts 28x28 digits."""
    return LeNet4(num_classes, in_channels, pad)
