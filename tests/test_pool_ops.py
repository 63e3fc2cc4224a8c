"""F.max_pool2d, F.avg_pool2d, F.adaptive_*_pool2d and their layers: gradients, -inf padding, shapes."""
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import distinct_arrays

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from minicnn.kernels.shape_rules import pool_output_size

sys.path.insert(0, str(Path(__file__).parent / "kernels"))
from pool_cases import pool_problems  # noqa: E402


def _max_kwargs(p):
    return dict(kernel_size=p["kernel"], stride=p["stride"], padding=p["padding"], dilation=p["dilation"],
                ceil_mode=p["ceil_mode"])


@given(data=st.data(), problem=pool_problems())
def test_max_pool2d_gradcheck_and_shape(data, problem):
    """Distinct values, so a nudge of eps never changes which pixel is the max."""
    x = mc.tensor(data.draw(distinct_arrays(problem["x_shape"])), requires_grad=True)
    y = F.max_pool2d(x, **_max_kwargs(problem))
    assert y.shape[2:] == pool_output_size(x.shape[2:], **_max_kwargs(problem))
    if np.isfinite(y.numpy()).all():
        assert mc.gradcheck(lambda t: F.max_pool2d(t, **_max_kwargs(problem)), [x])


@given(problem=pool_problems())
def test_max_pool2d_never_returns_the_padding(problem):
    x = mc.tensor(-1.0 - np.random.default_rng(0).random(problem["x_shape"]))    # all negative
    y = F.max_pool2d(x, **_max_kwargs(problem)).numpy()
    finite = y[np.isfinite(y)]
    assert (finite < 0).all() and np.isin(finite, x.numpy()).all()


@given(problem=pool_problems(dilation=False), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, 2]))
def test_avg_pool2d_gradcheck(problem, count_include_pad, divisor_override):
    x = mc.tensor(np.random.default_rng(0).standard_normal(problem["x_shape"]), requires_grad=True)
    kwargs = dict(kernel_size=problem["kernel"], stride=problem["stride"], padding=problem["padding"],
                  ceil_mode=problem["ceil_mode"], count_include_pad=count_include_pad,
                  divisor_override=divisor_override)
    assert mc.gradcheck(lambda t: F.avg_pool2d(t, **kwargs), [x])


@given(data=st.data(), shape=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 7), st.integers(1, 7)),
       out=st.tuples(st.integers(1, 4), st.integers(1, 4)))
def test_adaptive_pools_gradcheck(data, shape, out):
    x = mc.tensor(data.draw(distinct_arrays(shape)), requires_grad=True)
    assert F.adaptive_avg_pool2d(x, out).shape == (*shape[:2], *out)
    assert mc.gradcheck(lambda t: F.adaptive_avg_pool2d(t, out), [x])
    assert mc.gradcheck(lambda t: F.adaptive_max_pool2d(t, out), [x])


def test_global_average_pooling_and_none_sizes():
    x = mc.randn(2, 3, 5, 7)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(x, 1).numpy()[:, :, 0, 0], x.numpy().mean(axis=(2, 3)),
                               rtol=1e-6)
    assert F.adaptive_max_pool2d(x, (None, 2)).shape == (2, 3, 5, 2)


def test_return_indices_and_unbatched_input():
    x = mc.tensor(np.arange(16.0).reshape(1, 4, 4))
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    np.testing.assert_array_equal(y.numpy()[0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(idx.numpy()[0], [[5, 7], [13, 15]])
    assert idx.dtype == np.int64 and not idx.requires_grad
    y, idx = F.adaptive_max_pool2d(x.unsqueeze(0), 1, return_indices=True)
    assert y.item() == 15 and idx.item() == 15


def test_max_pool2d_tie_gradient_goes_to_first_position():
    x = mc.tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 0], [0, 0]])


def test_avg_pool2d_count_include_pad():
    x = mc.tensor(np.ones((1, 1, 2, 2)))
    assert F.avg_pool2d(x, 2, 1, 1).numpy()[0, 0, 0, 0] == 0.25
    assert F.avg_pool2d(x, 2, 1, 1, count_include_pad=False).numpy()[0, 0, 0, 0] == 1.0


@pytest.mark.parametrize("layer,fn", [
    (nn.MaxPool2d(3, 2, 1, ceil_mode=True), lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True)),
    (nn.AvgPool2d(2, padding=1, count_include_pad=False), lambda x: F.avg_pool2d(x, 2, 2, 1, count_include_pad=False)),
    (nn.AdaptiveAvgPool2d((2, 3)), lambda x: F.adaptive_avg_pool2d(x, (2, 3))),
    (nn.AdaptiveMaxPool2d(2), lambda x: F.adaptive_max_pool2d(x, 2)),
])
def test_layers_call_their_ops(layer, fn):
    x = mc.randn(2, 3, 9, 8)
    np.testing.assert_array_equal(layer(x).numpy(), fn(x).numpy())
    assert list(layer.parameters()) == [] and layer.state_dict() == {}


def test_pool_reprs():
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.AvgPool2d(3, 2)) == "AvgPool2d(kernel_size=3, stride=2, padding=0)"
    assert repr(nn.AdaptiveAvgPool2d((1, 1))) == "AdaptiveAvgPool2d(output_size=(1, 1))"
    assert repr(nn.AdaptiveMaxPool2d(4)) == "AdaptiveMaxPool2d(output_size=4)"
