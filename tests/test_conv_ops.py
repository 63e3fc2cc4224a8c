"""F.conv2d, F.conv_transpose2d, F.pad and nn.Conv2d: gradients (float64 gradcheck), shapes, layers."""
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from minicnn.kernels.shape_rules import conv_output_size

sys.path.insert(0, str(Path(__file__).parent / "kernels"))
from conv_cases import conv_args, conv_arrays, conv_problems, transposed_size  # noqa: E402

small_problems = conv_problems(max_batch=2, max_group_channels=2, max_groups=2, max_kernel=3)


def _tensors(*arrays):
    return [None if a is None else mc.tensor(a, requires_grad=True) for a in arrays]


@given(problem=small_problems, bias=st.booleans())
def test_conv2d_gradcheck(problem, bias):
    x, w, b = _tensors(*conv_arrays(problem, np.float64, bias=bias))
    stride, padding, dilation, groups = conv_args(problem)
    assert mc.gradcheck(lambda *t: F.conv2d(*t, stride=stride, padding=padding, dilation=dilation,
                                            groups=groups), [x, w, b])


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_conv2d_gradcheck_winograd(padding):
    """3x3, stride 1, 8 input channels: the layers that run as Winograd's F(2x2, 3x3), odd and even
    sizes (half tiles)."""
    from minicnn.kernels.cpu.conv import WINOGRAD_MIN_CHANNELS, uses_winograd
    rng = np.random.default_rng(padding)
    x, w, b = _tensors(rng.standard_normal((2, WINOGRAD_MIN_CHANNELS, 5, 6)),
                       rng.standard_normal((3, WINOGRAD_MIN_CHANNELS, 3, 3)), rng.standard_normal(3))
    assert uses_winograd(w.shape, (1, 1), (1, 1), 1)
    assert mc.gradcheck(lambda *t: F.conv2d(*t, padding=padding), [x, w, b])


@given(problem=small_problems, bias=st.booleans(), data=st.data())
def test_conv_transpose2d_gradcheck_and_adjoint(problem, bias, data):
    stride, padding, dilation, groups = conv_args(problem)
    x, w, b = conv_arrays(problem, np.float64, bias=bias)
    y = F.conv2d(mc.tensor(x), mc.tensor(w), None, stride, padding, dilation, groups)
    out_pad = tuple(data.draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    out_hw = transposed_size(y.shape[2:], w.shape[2:], stride, padding, dilation, out_pad)
    assume(min(out_hw) >= 1)          # padding can cut a small transposed output to nothing
    rng = np.random.default_rng(3)
    yt, wt, bt = _tensors(rng.standard_normal(y.shape), w, rng.standard_normal(x.shape[1]) if bias else None)
    z = F.conv_transpose2d(yt, wt, bt, stride, padding, out_pad, groups, dilation)
    assert z.shape[2:] == out_hw
    assert mc.gradcheck(lambda *t: F.conv_transpose2d(*t, stride, padding, out_pad, groups, dilation),
                        [yt, wt, bt])
    if out_pad == (0, 0) and z.shape == x.shape and not bias:   # the transpose of conv2d in x
        np.testing.assert_allclose(np.vdot(y.numpy(), yt.numpy()), np.vdot(x, z.numpy()), rtol=1e-9)


@given(problem=conv_problems())
def test_output_shape_is_conv_output_size(problem):
    x, w, b = (mc.tensor(a) for a in conv_arrays(problem, np.float32))
    stride, padding, dilation, groups = conv_args(problem)
    y = F.conv2d(x, w, b, stride, padding, dilation, groups)
    assert y.shape == (x.shape[0], w.shape[0], *conv_output_size(x.shape[2:], w.shape[2:], stride, padding, dilation))
    assert y.dtype == np.float32


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (4, 1), ((2, 5), 1), (3, 2), (4, 3)])
def test_padding_same_and_valid(kernel, dilation):
    x = mc.randn(2, 3, 7, 6, dtype=np.float64, requires_grad=True)
    w = mc.randn(4, 3, *((kernel, kernel) if isinstance(kernel, int) else kernel), dtype=np.float64,
                 requires_grad=True)
    assert F.conv2d(x, w, padding="same", dilation=dilation).shape == (2, 4, 7, 6)
    assert mc.gradcheck(lambda a, b: F.conv2d(a, b, padding="same", dilation=dilation), [x, w])
    assert F.conv2d(x, w, padding="valid").shape == F.conv2d(x, w, padding=0).shape


def test_unbatched_input_is_a_batch_of_one():
    x = mc.randn(3, 8, 8)
    w = mc.randn(5, 3, 3, 3)
    np.testing.assert_array_equal(F.conv2d(x, w, padding=1).numpy(),
                                  F.conv2d(x.unsqueeze(0), w, padding=1).numpy()[0])
    assert F.conv_transpose2d(mc.randn(5, 4, 4), w, stride=2).shape == (3, 9, 9)


def test_pad():
    x = mc.randn(2, 3, 4, 5, dtype=np.float64, requires_grad=True)
    y = F.pad(x, (1, 2, 3, 0))
    assert y.shape == (2, 3, 7, 8)
    np.testing.assert_array_equal(y.numpy()[:, :, 3:, 1:6], x.numpy())
    assert y.numpy()[:, :, :3].sum() == 0 and y.numpy()[..., 6:].sum() == 0
    assert F.pad(x, (2, 2), value=-1.5).numpy()[..., 0].max() == -1.5
    assert mc.gradcheck(lambda t: F.pad(t, (1, 0, 2, 1)), [x])


def test_conv2d_layer_initialisation_and_forward():
    layer = nn.Conv2d(4, 6, (3, 2), stride=2, padding=1, groups=2)
    fan_in = 2 * 3 * 2
    assert layer.weight.shape == (6, 2, 3, 2) and layer.bias.shape == (6,)
    assert layer.weight.dtype == np.float32
    assert np.abs(layer.weight.numpy()).max() <= 1 / math.sqrt(fan_in)    # kaiming_uniform(a=sqrt(5))
    assert np.abs(layer.bias.numpy()).max() <= 1 / math.sqrt(fan_in)
    assert layer.weight.numpy().std() > 0.5 / math.sqrt(3 * fan_in)        # really drawn, not zeros
    x = mc.randn(2, 4, 5, 5)
    np.testing.assert_array_equal(layer(x).numpy(),
                                  F.conv2d(x, layer.weight, layer.bias, 2, 1, 1, 2).numpy())
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert list(nn.Conv2d(1, 2, 3, bias=False).state_dict()) == ["weight"]


def test_conv2d_layer_gradcheck_float64():
    layer = nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), dtype=np.float64)
    x = mc.randn(2, 2, 5, 6, dtype=np.float64, requires_grad=True)
    assert layer.weight.dtype == np.float64
    assert mc.gradcheck(lambda a, w, b: F.conv2d(a, w, b, (2, 1), 1, (1, 2)), [x, layer.weight, layer.bias])
    assert mc.gradcheck(lambda a: layer(a), [x])


def test_conv2d_layer_trains():
    """The gradients reach the parameters: a few SGD steps reduce a regression loss."""
    layer = nn.Conv2d(1, 1, 3, padding="same")
    x = mc.randn(4, 1, 6, 6)
    target = F.conv2d(x, mc.tensor(np.ones((1, 1, 3, 3), np.float32)), padding=1).detach()
    losses = []
    for _ in range(20):
        loss = ((layer(x) - target) ** 2).mean()
        losses.append(loss.item())
        layer.zero_grad()
        loss.backward()
        for p in layer.parameters():
            p.data -= 0.05 * p.grad.data
    assert losses[-1] < 0.5 * losses[0]


def test_conv2d_repr():
    assert repr(nn.Conv2d(3, 8, 3)) == "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))"
    assert repr(nn.Conv2d(3, 8, 3, padding="same", bias=False)) == \
        "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=same, bias=False)"
