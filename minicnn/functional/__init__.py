"""Differentiable operations (`import minicnn.functional as F`), PyTorch's names and arguments."""
from ..autograd import cat, stack
from .activations import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .linear import linear
from .losses import cross_entropy, mse_loss, nll_loss
