"""Pooling ops with PyTorch's arguments, defaults and output shapes.

    F.max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False)
    F.avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None)
    F.adaptive_avg_pool2d(x, output_size)        output_size 1: global average pooling
    F.adaptive_max_pool2d(x, output_size, return_indices=False)

x is (N, C, H, W) or (C, H, W); stride defaults to kernel_size. Max pooling pads with -inf (padding
never wins) and sends the gradient of a tie to the first maximum in row-major window order.
Output size: floor((H + 2p - d(k-1) - 1) / s) + 1, rounded up with ceil_mode (minicnn's
pool_output_size). Adaptive window i spans [floor(i H / Ho), ceil((i + 1) H / Ho)).
"""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..kernels.backend import kernels_for
from ..kernels.shape_rules import pair, pool_output_size
from .conv import image_batch


class MaxPool2d(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, ceil_mode, indices_out):
        y, idx = kernels_for(x).max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
        ctx.save_for_backward(idx)
        ctx.x_shape = x.shape
        if indices_out is not None:               # a list that receives the indices (return_indices)
            indices_out.append(idx)
        return y

    @staticmethod
    def backward(ctx, gy):
        idx, = ctx.saved_tensors
        return kernels_for(gy).max_pool2d_backward(gy, idx, ctx.x_shape), None, None, None, None, None, None


class AvgPool2d(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override):
        ctx.conf = (kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
        ctx.x_shape = x.shape
        return kernels_for(x).avg_pool2d_forward(x, *ctx.conf)

    @staticmethod
    def backward(ctx, gy):
        return (kernels_for(gy).avg_pool2d_backward(gy, ctx.x_shape, *ctx.conf),) + (None,) * 6


class AdaptiveAvgPool2d(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, x, output_size):
        ctx.x_shape = x.shape
        return kernels_for(x).adaptive_avg_pool2d_forward(x, output_size)

    @staticmethod
    def backward(ctx, gy):
        return kernels_for(gy).adaptive_avg_pool2d_backward(gy, ctx.x_shape), None


class AdaptiveMaxPool2d(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, x, output_size, indices_out):
        y, idx = kernels_for(x).adaptive_max_pool2d_forward(x, output_size)
        ctx.save_for_backward(idx)
        ctx.x_shape = x.shape
        if indices_out is not None:
            indices_out.append(idx)
        return y

    @staticmethod
    def backward(ctx, gy):
        idx, = ctx.saved_tensors
        return kernels_for(gy).adaptive_max_pool2d_backward(gy, idx, ctx.x_shape), None, None


def pool_arguments(x, kernel_size, stride, padding, dilation, ceil_mode, name):
    """Check a pooling window against PyTorch's rules; returns (kernel, stride, padding, dilation)
    as (h, w) pairs. Raises naming ``name`` (the op, or the layer calling it)."""
    kernel = pair(kernel_size, f"{name}: kernel_size")
    stride = kernel if stride is None or stride == [] or stride == () else pair(stride, f"{name}: stride")
    padding, dilation = pair(padding, f"{name}: padding"), pair(dilation, f"{name}: dilation")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(f"{name}: kernel_size, stride and dilation must be >= 1 and padding >= 0, got "
                         f"kernel_size={kernel}, stride={stride}, padding={padding}, dilation={dilation}")
    if any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{name}: padding should be at most half of the kernel size, got "
                         f"padding={padding} and kernel_size={kernel}")
    pool_output_size(tuple(x.shape[2:]), kernel, stride, padding, dilation, ceil_mode, name=name)
    return kernel, stride, padding, dilation


def _max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, name):
    x, unbatched = image_batch(input, name)
    args = pool_arguments(x, kernel_size, stride, padding, dilation, ceil_mode, name)
    box = [] if return_indices else None
    y = MaxPool2d.apply(x, *args, bool(ceil_mode), box)
    return _batch_back(y, box, unbatched)


def _batch_back(y, box, unbatched):
    """Drop the batch axis added for a 3-D input; add the indices (a Tensor) when they were asked for."""
    y = y.squeeze(0) if unbatched else y
    if box is None:
        return y
    return y, Tensor(box[0][0] if unbatched else box[0])


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max over each window (see the module docstring); with return_indices also the int64 flat
    position h * W + w of each max in its input plane."""
    return _max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                       "max_pool2d")


def _avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override, name):
    x, unbatched = image_batch(input, name)
    kernel, stride, padding, _ = pool_arguments(x, kernel_size, stride, padding, 1, ceil_mode, name)
    if divisor_override is not None and (int(divisor_override) != divisor_override or divisor_override < 1):
        raise ValueError(f"{name}: divisor_override must be a positive int, got {divisor_override!r}")
    y = AvgPool2d.apply(x, kernel, stride, padding, bool(ceil_mode), bool(count_include_pad), divisor_override)
    return y.squeeze(0) if unbatched else y


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean over each window; the divisor counts the zero padding (count_include_pad=True, PyTorch's
    default) or only the input pixels, or is divisor_override."""
    return _avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override,
                       "avg_pool2d")


def adaptive_output_size(x, output_size, name):
    """(Ho, Wo) from an int or a pair whose None entries keep the input's size."""
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size, output_size)
    if len(sizes) != 2:
        raise ValueError(f"{name}: output_size must be an int or a pair (h, w), got {output_size!r}")
    sizes = tuple(n if s is None else s for s, n in zip(sizes, x.shape[2:]))
    sizes = pair(sizes, f"{name}: output_size")
    if min(sizes) < 1:
        raise ValueError(f"{name}: output_size must be >= 1, got {output_size!r}")
    return sizes


def adaptive_avg_pool2d(input, output_size):
    """Average over windows that tile the input into output_size cells (1: global average pooling)."""
    x, unbatched = image_batch(input, "adaptive_avg_pool2d")
    y = AdaptiveAvgPool2d.apply(x, adaptive_output_size(x, output_size, "adaptive_avg_pool2d"))
    return y.squeeze(0) if unbatched else y


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max over windows that tile the input into output_size cells (ties: first in row-major order)."""
    x, unbatched = image_batch(input, "adaptive_max_pool2d")
    box = [] if return_indices else None
    y = AdaptiveMaxPool2d.apply(x, adaptive_output_size(x, output_size, "adaptive_max_pool2d"), box)
    return _batch_back(y, box, unbatched)
