"""Convolution ops: conv2d and conv_transpose2d, PyTorch's arguments, defaults and output shapes.

    y = F.conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1)
        x (N, C, H, W) or (C, H, W); weight (O, C/groups, kh, kw); bias (O,)
        y (N, O, Ho, Wo) with Ho = floor((H + 2p - d(kh-1) - 1) / s) + 1   (minicnn.conv_output_size)

The backward pass of a convolution is two more convolutions: the input gradient is the
*transposed* convolution of gy by the same weight (exposed as conv_transpose2d), the weight
gradient correlates the input with gy. The kernels come from minicnn.kernels.cpu (NumPy arrays) or
minicnn.kernels.cuda (device arrays), as kernels_for picks them.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..kernels.backend import kernels_for
from ..kernels.shape_rules import conv_output_size, pair, same_padding
from .padding import pad as _pad


class Conv2d(Function):
    runs_on_gpu = True

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation, groups)
        return kernels_for(x).conv2d_forward(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        kernels = kernels_for(gy)
        gx, gw, gb = kernels.conv2d_backward(x, weight, gy, *ctx.conf, needs=ctx.needs_input_grad[:3])
        return gx, gw, gb, None, None, None, None


class ConvTranspose2d(Function):
    """y = the adjoint of conv2d in its input: every input pixel spreads weight * value over a
    window of the (larger) output. Its gradients are a conv2d (input) and a conv2d weight gradient."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, out_shape):
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation, groups)
        y = kernels_for(x).conv2d_input_grad(x, weight, out_shape, stride, padding, dilation, groups)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        return y

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        needs, kernels = ctx.needs_input_grad, kernels_for(gy)
        gx = None
        if needs[0]:        # output_padding may leave extra rows/columns: keep the input's positions
            h, w = x.shape[2:]
            gx = kernels.conv2d_forward(gy, weight, None, *ctx.conf)[:, :, :h, :w]
        gw = kernels.conv2d_weight_grad(gy, x, weight.shape, *ctx.conf) if needs[1] else None
        gb = kernels.conv2d_bias_grad(gy) if needs[2] else None
        return gx, gw, gb, None, None, None, None, None


def image_batch(x, name):
    """(x as (N, C, H, W), whether it came without a batch axis); clear errors for bad rank or dtype."""
    if np.dtype(x.dtype) not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected a float32 or float64 input, got dtype {x.dtype} "
                        f"(convert it with x.float())")
    if x.ndim == 3:
        return x.unsqueeze(0), True
    if x.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D input (N, C, H, W) or a 3-D one (C, H, W), "
                         f"got a {x.ndim}-D input of shape {tuple(x.shape)}")
    return x, False


def _check_weight(x, weight, bias, groups, name, transposed):
    """Weight rank and dtype, groups dividing weight.shape[0] (the channels a group of the weight
    reads: out_channels for conv2d, in_channels for conv_transpose2d), bias shape."""
    if weight.ndim != 4:
        raise ValueError(f"{name}: expected a 4-D weight, got shape {tuple(weight.shape)}")
    for t, what in ((weight, "weight"), (bias, "bias")):
        if t is not None and t.dtype != x.dtype:
            raise TypeError(f"{name}: input ({x.dtype}) and {what} ({t.dtype}) must have the same dtype")
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    if weight.shape[0] % groups:
        what = "in_channels" if transposed else "out_channels"
        raise ValueError(f"{name}: groups={groups} must divide {what}={weight.shape[0]} "
                         f"(weight of shape {tuple(weight.shape)})")
    n_out = weight.shape[1] * groups if transposed else weight.shape[0]
    if bias is not None and tuple(bias.shape) != (n_out,):
        raise ValueError(f"{name}: expected a bias of shape ({n_out},), got {tuple(bias.shape)}")


def _conv2d(x, weight, bias, stride, padding, dilation, groups, name):
    """conv2d with errors that name ``name`` (the op, or the layer calling it)."""
    x, unbatched = image_batch(x, name)
    _check_weight(x, weight, bias, groups, name, transposed=False)
    expected = weight.shape[1] * groups
    if x.shape[1] != expected:
        raise ValueError(f"{name}: expected input with {expected} channels (weight of shape "
                         f"{tuple(weight.shape)}, groups={groups}), got {x.shape[1]} channels "
                         f"(input of shape {tuple(x.shape)})")
    stride, dilation = pair(stride, f"{name}: stride"), pair(dilation, f"{name}: dilation")
    kernel = tuple(weight.shape[2:])
    if padding in ("same", "valid"):
        if padding == "same" and stride != (1, 1):
            raise ValueError(f"{name}: padding='same' is not supported for strided convolutions "
                             f"(stride={stride})")
        before_after = [same_padding(k, d) if padding == "same" else (0, 0) for k, d in zip(kernel, dilation)]
        extra = [after - before for before, after in before_after]
        if any(extra):                            # an even kernel: one more row/column at the end
            x = _pad(x, (0, extra[1], 0, extra[0]))
        padding = tuple(before for before, _ in before_after)
    elif isinstance(padding, str):
        raise ValueError(f"{name}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}")
    else:
        padding = pair(padding, f"{name}: padding")
    conv_output_size(tuple(x.shape[2:]), kernel, stride, padding, dilation, name=name)
    y = Conv2d.apply(x, weight, bias, stride, padding, dilation, int(groups))
    return y.squeeze(0) if unbatched else y


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation, as torch.nn.functional.conv2d (see the module docstring).

    padding: an int, an (h, w) pair, 'valid' (no padding) or 'same' (output as large as the input,
    stride 1 only; an even kernel gets its extra row/column of zeros at the bottom/right).
    """
    return _conv2d(input, weight, bias, stride, padding, dilation, groups, "conv2d")


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed convolution (the input gradient of conv2d), as torch.nn.functional.conv_transpose2d.

    input (N, C, H, W) or (C, H, W); weight (C, O/groups, kh, kw); bias (O,). Output size
    Ho = (H - 1) s - 2p + d(kh - 1) + output_padding + 1, the size a conv2d with the same arguments
    maps back to H (output_padding picks among the sizes that do, when s > 1).
    """
    name = "conv_transpose2d"
    x, unbatched = image_batch(input, name)
    _check_weight(x, weight, bias, groups, name, transposed=True)
    if x.shape[1] != weight.shape[0]:
        raise ValueError(f"{name}: expected input with {weight.shape[0]} channels (weight of shape "
                         f"{tuple(weight.shape)}), got {x.shape[1]} channels (input of shape {tuple(x.shape)})")
    stride, padding = pair(stride, f"{name}: stride"), pair(padding, f"{name}: padding")
    dilation, output_padding = pair(dilation, f"{name}: dilation"), pair(output_padding, f"{name}: output_padding")
    if any(op >= max(s, d) for op, s, d in zip(output_padding, stride, dilation)):
        raise ValueError(f"{name}: output_padding {output_padding} must be smaller than either stride "
                         f"{stride} or dilation {dilation}")
    out_hw = tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, s, p, d, k, op in
                   zip(x.shape[2:], stride, padding, dilation, weight.shape[2:], output_padding))
    if min(out_hw) < 1:
        raise ValueError(f"{name}: the output size (H - 1)s - 2p + d(k-1) + output_padding + 1 = "
                         f"{out_hw} is < 1 for input of shape {tuple(x.shape)}")
    out_shape = (x.shape[0], weight.shape[1] * groups, *out_hw)
    y = ConvTranspose2d.apply(x, weight, bias, stride, padding, dilation, int(groups), out_shape)
    return y.squeeze(0) if unbatched else y
