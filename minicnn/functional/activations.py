"""Activation functions: relu, leaky_relu, tanh, sigmoid, softmax, log_softmax.

softmax and log_softmax subtract the row maximum first, so logits of +-1e4
give finite results (exp never overflows).

relu, tanh and sigmoid call their kernels (minicnn.kernels.cpu.elementwise: one
line of NumPy each; minicnn.kernels.cuda.elementwise on the GPU).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..kernels.backend import kernels_for


class ReLU(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return kernels_for(x).relu_forward(x)          # max(x, 0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return kernels_for(g).relu_backward(g, x)      # g where x > 0, else 0


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, x, negative_slope):
        mask = x > 0
        ctx.save_for_backward(mask)
        ctx.slope = x.dtype.type(negative_slope)
        return np.where(mask, x, x * ctx.slope)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return np.where(mask, g, g * ctx.slope), None


class Tanh(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, x):
        y = kernels_for(x).tanh_forward(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return kernels_for(g).tanh_backward(g, y)      # g * (1 - y^2)


class Sigmoid(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, x):
        y = kernels_for(x).sigmoid_forward(x)          # exp of -|x| only: stable for large |x|
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return kernels_for(g).sigmoid_backward(g, y)   # g * y * (1 - y)


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        y = e / e.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum(axis=ctx.dim, keepdims=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, dim):
        shifted = x - x.max(axis=dim, keepdims=True)
        y = shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g - np.exp(y) * g.sum(axis=ctx.dim, keepdims=True), None


def relu(x):
    """max(x, 0), elementwise."""
    return ReLU.apply(x)


def leaky_relu(x, negative_slope: float = 0.01):
    """x where x > 0, else negative_slope * x."""
    return LeakyReLU.apply(x, negative_slope)


def tanh(x):
    return Tanh.apply(x)


def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow."""
    return Sigmoid.apply(x)


def softmax(x, dim: int = -1):
    """exp(x) / sum(exp(x)) along `dim` (stable: the max is subtracted first)."""
    return Softmax.apply(x, dim)


def log_softmax(x, dim: int = -1):
    """log(softmax(x)) along `dim`, computed as x - max - log(sum(exp(x - max)))."""
    return LogSoftmax.apply(x, dim)
