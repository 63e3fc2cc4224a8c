"""Differentiable operations (`import minicnn.functional as F`), PyTorch's names and arguments."""
from ..autograd import cat, stack
from .activations import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .conv import conv2d, conv_transpose2d
from .dropout import dropout, dropout2d
from .linear import linear
from .losses import cross_entropy, mse_loss, nll_loss
from .normalization import batch_norm, local_response_norm
from .padding import pad
from .pooling import adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d
