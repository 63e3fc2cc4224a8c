"""Convolution and pooling against torch.nn.functional: same numbers forward and backward, same
layer reprs and state_dict keys. Skipped when torch is not installed."""
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.torch

sys.path.insert(0, str(Path(__file__).parent / "kernels"))
from conv_cases import conv_args, conv_arrays, conv_problems, transposed_size  # noqa: E402
from pool_cases import pool_problems  # noqa: E402


def _both(*arrays):
    """The same float64 arrays as minicnn and as torch leaves requiring grad (None stays None)."""
    ours = [None if a is None else mc.tensor(a, requires_grad=True) for a in arrays]
    theirs = [None if a is None else torch.tensor(a, requires_grad=True) for a in arrays]
    return ours, theirs


def _compare(fn_ours, fn_theirs, arrays, seed=0):
    """Forward outputs and the gradients of sum(out * r) w.r.t. every array must agree."""
    ours, theirs = _both(*arrays)
    y, yt = fn_ours(*ours), fn_theirs(*theirs)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    r = np.random.default_rng(seed).standard_normal(y.shape)
    (y * mc.tensor(r)).sum().backward()
    (yt * torch.tensor(r)).sum().backward()
    for a, b in zip(ours, theirs):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-10)


@given(problem=conv_problems(), bias=st.booleans())
def test_conv2d_matches_torch(problem, bias):
    s, p, d, g = conv_args(problem)
    _compare(lambda *t: F.conv2d(*t, s, p, d, g), lambda *t: TF.conv2d(*t, s, p, d, g),
             conv_arrays(problem, np.float64, bias=bias))


@given(extra=st.integers(0, 4), out=st.integers(1, 5), h=st.integers(1, 9), w=st.integers(1, 9),
       padding=st.integers(0, 2), bias=st.booleans())
def test_winograd_conv2d_matches_torch(extra, out, h, w, padding, bias):
    """3x3 stride-1 layers with enough input channels for Winograd's F(2x2, 3x3) in minicnn."""
    from minicnn.kernels.cpu.conv import WINOGRAD_MIN_CHANNELS, uses_winograd
    assume(h + 2 * padding >= 3 and w + 2 * padding >= 3)
    channels = WINOGRAD_MIN_CHANNELS + extra
    assert uses_winograd((out, channels, 3, 3), (1, 1), (1, 1), 1)
    rng = np.random.default_rng(h * 10 + w)
    arrays = (rng.standard_normal((2, channels, h, w)), rng.standard_normal((out, channels, 3, 3)),
              rng.standard_normal(out) if bias else None)
    _compare(lambda *t: F.conv2d(*t, padding=padding), lambda *t: TF.conv2d(*t, padding=padding), arrays)


def test_winograd_conv2d_float32_matches_torch():
    """A VGG-sized float32 layer: minicnn's Winograd and PyTorch's kernels agree to float32 rounding."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 32, 16, 16)).astype(np.float32)
    w = (rng.standard_normal((64, 32, 3, 3)) / 17).astype(np.float32)
    (ours, wo), (theirs, wt) = _both(x, w)
    y, yt = F.conv2d(ours, wo, padding=1), TF.conv2d(theirs, wt, padding=1)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    r = rng.standard_normal(y.shape).astype(np.float32)
    (y * mc.tensor(r)).sum().backward()
    (yt * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(wo.grad.numpy(), wt.grad.numpy(), rtol=1e-4, atol=2e-3)


@given(problem=conv_problems(), bias=st.booleans(), data=st.data())
def test_conv_transpose2d_matches_torch(problem, bias, data):
    s, p, d, g = conv_args(problem)
    x, w, _ = conv_arrays(problem, np.float64)
    y_shape = F.conv2d(mc.tensor(x), mc.tensor(w), None, s, p, d, g).shape
    op = tuple(data.draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    assume(min(transposed_size(y_shape[2:], w.shape[2:], s, p, d, op)) >= 1)
    rng = np.random.default_rng(1)
    b = rng.standard_normal(x.shape[1]) if bias else None
    _compare(lambda *t: F.conv_transpose2d(*t, s, p, op, g, d), lambda *t: TF.conv_transpose2d(*t, s, p, op, g, d),
             (rng.standard_normal(y_shape), w, b))


@pytest.mark.parametrize("kernel,dilation", [(3, 1), (4, 1), ((2, 5), 2)])
def test_padding_same_matches_torch(kernel, dilation):
    k = (kernel, kernel) if isinstance(kernel, int) else kernel
    rng = np.random.default_rng(0)
    _compare(lambda x, w: F.conv2d(x, w, padding="same", dilation=dilation),
             lambda x, w: TF.conv2d(x, w, padding="same", dilation=dilation),
             (rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, *k))))


@given(problem=pool_problems())
def test_max_pool2d_matches_torch(problem):
    kw = dict(kernel_size=problem["kernel"], stride=problem["stride"], padding=problem["padding"],
              dilation=problem["dilation"], ceil_mode=problem["ceil_mode"])
    x = np.random.default_rng(0).standard_normal(problem["x_shape"])
    y, idx = F.max_pool2d(mc.tensor(x), **kw, return_indices=True)
    yt, idxt = TF.max_pool2d(torch.tensor(x), **kw, return_indices=True)
    if not np.isfinite(yt.numpy()).all():          # a window that saw only padding: torch's index is undefined
        return
    np.testing.assert_array_equal(idx.numpy(), idxt.numpy())
    _compare(lambda t: F.max_pool2d(t, **kw), lambda t: TF.max_pool2d(t, **kw), (x,))


def test_max_pool2d_ties_match_torch():
    x = np.zeros((1, 2, 5, 5))
    x[0, 1, 1:3, 1:3] = 1.0
    y, idx = F.max_pool2d(mc.tensor(x), 3, 2, 1, return_indices=True)
    _, idxt = TF.max_pool2d(torch.tensor(x), 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), idxt.numpy())


@given(problem=pool_problems(dilation=False), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 3]))
def test_avg_pool2d_matches_torch(problem, count_include_pad, divisor_override):
    kw = dict(kernel_size=problem["kernel"], stride=problem["stride"], padding=problem["padding"],
              ceil_mode=problem["ceil_mode"], count_include_pad=count_include_pad, divisor_override=divisor_override)
    x = np.random.default_rng(0).standard_normal(problem["x_shape"])
    _compare(lambda t: F.avg_pool2d(t, **kw), lambda t: TF.avg_pool2d(t, **kw), (x,))


@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 10), st.integers(1, 10)),
       out=st.tuples(st.integers(1, 7), st.integers(1, 7)))
def test_adaptive_pools_match_torch(shape, out):
    x = np.random.default_rng(0).standard_normal(shape)
    _compare(lambda t: F.adaptive_avg_pool2d(t, out), lambda t: TF.adaptive_avg_pool2d(t, out), (x,))
    _compare(lambda t: F.adaptive_max_pool2d(t, out), lambda t: TF.adaptive_max_pool2d(t, out), (x,))
    _, idx = F.adaptive_max_pool2d(mc.tensor(x), out, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), TF.adaptive_max_pool2d(torch.tensor(x), out, return_indices=True)[1])


def test_pad_matches_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    _compare(lambda t: F.pad(t, (1, 2, 0, 3), value=0.5), lambda t: TF.pad(t, (1, 2, 0, 3), value=0.5), (x,))


LAYERS = [
    ("Conv2d", (1, 6, 5), {}),
    ("Conv2d", (6, 16, (3, 5)), dict(stride=2, padding=(1, 2), dilation=2, groups=2, bias=False)),
    ("Conv2d", (3, 8, 4), dict(padding="same")),
    ("Conv2d", (8, 8, 3), dict(padding="valid", groups=8)),
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", (3, 2, 1), dict(ceil_mode=True, dilation=2)),
    ("AvgPool2d", ((2, 3),), dict(stride=1, padding=1)),
    ("AdaptiveAvgPool2d", ((1, 1),), {}),
    ("AdaptiveAvgPool2d", (5,), {}),
    ("AdaptiveMaxPool2d", ((2, None),), {}),
]


@pytest.mark.parametrize("name,args,kwargs", LAYERS)
def test_layer_repr_and_state_dict_keys_match_torch(name, args, kwargs):
    ours, theirs = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for key, value in theirs.state_dict().items():
        assert ours.state_dict()[key].shape == tuple(value.shape)


def test_conv2d_layer_with_torch_weights_gives_torch_numbers():
    theirs = torch.nn.Conv2d(3, 4, 3, stride=2, padding=1)
    ours = nn.Conv2d(3, 4, 3, stride=2, padding=1)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 9)).astype(np.float32)
    np.testing.assert_allclose(ours(mc.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)


def test_conv2d_default_init_has_torch_bounds():
    """Same distribution as torch's default: uniform in +-1/sqrt(fan_in) for weight and bias."""
    ours, theirs = nn.Conv2d(16, 32, 3), torch.nn.Conv2d(16, 32, 3)
    bound = 1 / np.sqrt(16 * 3 * 3)
    for a, b in ((ours.weight.numpy(), theirs.weight.detach().numpy()), (ours.bias.numpy(), theirs.bias.detach().numpy())):
        assert np.abs(a).max() <= bound * (1 + 1e-6) and np.abs(b).max() <= bound * (1 + 1e-6)
    # 4,608 uniform weights: the largest magnitude lies within 0.2% of the bound (fails with p < 1e-4)
    assert np.abs(ours.weight.numpy()).max() > 0.998 * bound
    assert abs(ours.weight.numpy().std() - bound / np.sqrt(3)) < 0.05 * bound / np.sqrt(3)
