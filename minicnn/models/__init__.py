"""The architecture zoo: LeNet, AlexNet/ZFNet, VGG, GoogLeNet, ResNet/PlainNet, NIN.

Each model is a thin composition of minicnn.nn layers with PyTorch-style parameter names. Build one
by function (`lenet5()`, `vgg16(width_mult=1/8)`) or by name (`get_model('resnet20')`).
"""
from .alexnet import AlexNet, alexnet, zfnet
from .googlenet import GoogLeNet, GoogLeNetOutputs, Inception, InceptionAux, NaiveInception, googlenet
from .lenet import LeNet1, LeNet4, LeNet5, lenet1, lenet4, lenet5
from .nin import NIN, nin
from .registry import get_model, list_models
from .resnet import (BasicBlock, Bottleneck, ResNet, plainnet, resnet, resnet18, resnet20, resnet32,
                     resnet56)
from .vgg import VGG, vgg, vgg11, vgg13, vgg16, vgg19

__all__ = [
    "AlexNet", "alexnet", "zfnet", "GoogLeNet", "GoogLeNetOutputs", "Inception", "InceptionAux",
    "NaiveInception", "googlenet", "LeNet1", "LeNet4", "LeNet5", "lenet1", "lenet4", "lenet5", "NIN", "nin",
    "get_model", "list_models", "BasicBlock", "Bottleneck", "ResNet", "plainnet", "resnet", "resnet18",
    "resnet20", "resnet32", "resnet56", "VGG", "vgg", "vgg11", "vgg13", "vgg16", "vgg19",
]
