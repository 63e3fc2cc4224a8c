"""minicnn: a convolutional-network framework written from scratch on NumPy and Numba.

    import minicnn as mc
    import minicnn.nn as nn
    import minicnn.functional as F
"""
from .autograd import (Function, Tensor, arange, cat, enable_grad, full, gradcheck, is_grad_enabled,
                       manual_seed, no_grad, ones, ones_like, rand, randn, stack, tensor, zeros,
                       zeros_like)
from .kernels.shape_rules import conv_output_size

float32 = "float32"
float64 = "float64"
int64 = "int64"

__version__ = "0.1.0"

from . import data, functional, nn, optim  # noqa: E402  (the layers need the names above)
from .io import CheckpointError, load, save  # noqa: E402
from . import models, viz  # noqa: E402
from .summary import summary  # noqa: E402
