"""Autograd: `Tensor`, the `Function` base class, the backward engine, elementary ops."""
from .function import Function, enable_grad, is_grad_enabled, no_grad
from .tensor import Tensor
from .creation import arange, cat, full, ones, ones_like, randn, rand, stack, tensor, zeros, zeros_like
from .gradcheck import gradcheck
from .random import manual_seed, get_rng

__all__ = [
    "Function", "Tensor", "no_grad", "enable_grad", "is_grad_enabled", "tensor", "zeros", "ones",
    "full", "zeros_like", "ones_like", "randn", "rand", "arange", "cat", "stack", "gradcheck",
    "manual_seed", "get_rng",
]
