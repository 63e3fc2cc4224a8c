"""Batch normalization: Numba kernels vs the NumPy reference, gradients, invariants, running stats."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from minicnn.kernels import reference_norm as ref
from minicnn.kernels.cpu import batchnorm as fast


def _t(a, grad=True):
    return mc.tensor(a, requires_grad=grad, dtype=a.dtype)


@st.composite
def bn_inputs(draw):
    """(x, weight, bias) with x of shape (N, C) or (N, C, L) or (N, C, H, W), at least 2 values per channel."""
    dims = draw(st.sampled_from([2, 3, 4]))
    n = draw(st.integers(1, 4))
    c = draw(st.integers(1, 5))
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=dims - 2, max_size=dims - 2)))
    if n * int(np.prod(spatial)) < 2:
        n = 2
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    scale = draw(st.floats(0.1, 50.0))
    offset = draw(st.floats(-50.0, 50.0))
    x = (rng.standard_normal((n, c) + spatial) * scale + offset).astype(dtype)
    return x, rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)


@given(bn_inputs(), st.booleans())
def test_kernels_match_reference(inputs, training):
    x, w, b = inputs
    tol = dict(rtol=1e-4, atol=1e-4) if x.dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    mean, var = fast.batch_norm_stats(x)
    mean_r, var_r = ref.batch_norm_stats(x)
    np.testing.assert_allclose(mean, mean_r, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(var, var_r, rtol=1e-5, atol=1e-5)
    if not training:   # eval: arbitrary running statistics
        mean, var = mean_r + 0.5, var_r + 0.25
    invstd = 1 / np.sqrt(var + 1e-5)
    y = fast.batch_norm_forward(x, mean, invstd, w, b)
    assert y.dtype == x.dtype and y.shape == x.shape
    np.testing.assert_allclose(y, ref.batch_norm_forward(x, mean, invstd, w, b), **tol)
    gy = np.random.default_rng(1).standard_normal(x.shape).astype(x.dtype)
    got = fast.batch_norm_backward(gy, x, mean, invstd, w, training)
    want = ref.batch_norm_backward(gy, x, mean, invstd, w, training)
    scale = max(1.0, float(np.abs(want[0]).max()))
    for g, r in zip(got, want):
        assert g.dtype == x.dtype
        np.testing.assert_allclose(g / scale, r / scale, rtol=tol["rtol"], atol=tol["atol"] * 10)


@given(bn_inputs())
def test_training_output_has_zero_mean_unit_variance_per_channel(inputs):
    x = inputs[0]
    bn = nn.BatchNorm2d(x.shape[1]) if x.ndim == 4 else nn.BatchNorm1d(x.shape[1])
    y = bn(mc.tensor(x, dtype=x.dtype)).numpy().astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    _, var = ref.batch_norm_stats(x)
    atol = 1e-3 if x.dtype == np.float32 else 1e-9
    np.testing.assert_allclose(y.mean(axis=axes), 0, atol=atol)
    np.testing.assert_allclose(y.var(axis=axes), var / (var + bn.eps), rtol=atol, atol=atol)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 4), (2, 3, 3, 2)])
def test_gradcheck_batch_norm(training, shape):
    rng = np.random.default_rng(0)
    c = shape[1]
    x = _t(rng.standard_normal(shape) * 2 + 1)
    w = _t(rng.standard_normal(c))
    b = _t(rng.standard_normal(c))
    rm, rv = mc.tensor(rng.standard_normal(c), dtype=np.float64), mc.tensor(rng.random(c) + 0.5, dtype=np.float64)
    assert mc.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=training), (x, w, b))


@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_batchnorm2d_module_without_affine(training):
    bn = nn.BatchNorm2d(3, affine=False).double()
    bn.train(training)
    x = _t(np.random.default_rng(1).standard_normal((2, 3, 2, 3)))
    assert mc.gradcheck(bn, (x,))


def test_running_stats_use_the_unbiased_variance():
    bn = nn.BatchNorm2d(2, momentum=0.1)
    x = np.random.default_rng(0).standard_normal((3, 2, 2, 2)).astype(np.float32) * 3 + 1
    bn(mc.tensor(x))
    mean = x.mean(axis=(0, 2, 3))
    var_unbiased = x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.9 + 0.1 * var_unbiased, rtol=1e-5)
    assert bn.num_batches_tracked.item() == 1 and bn.num_batches_tracked.dtype == np.int64
    bn.eval()
    bn(mc.tensor(x))                          # eval: nothing moves
    assert bn.num_batches_tracked.item() == 1
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.1 * mean, rtol=1e-5)


def test_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(3, momentum=None)
    rng = np.random.default_rng(0)
    batches = [rng.standard_normal((5, 3)).astype(np.float32) + i for i in range(3)]
    for b in batches:
        bn(mc.tensor(b))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([b.mean(0) for b in batches], 0), rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(), np.mean([b.var(0, ddof=1) for b in batches], 0),
                               rtol=1e-5)


def test_eval_uses_running_statistics():
    bn = nn.BatchNorm2d(2)
    bn.running_mean.data[:] = [1.0, -2.0]
    bn.running_var.data[:] = [4.0, 0.25]
    bn.weight.data[:] = [2.0, 3.0]
    bn.bias.data[:] = [0.5, -0.5]
    bn.eval()
    x = np.random.default_rng(0).standard_normal((2, 2, 3, 3)).astype(np.float32)
    want = ((x - np.array([1.0, -2.0])[:, None, None]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5)[:, None, None]
            * np.array([2.0, 3.0])[:, None, None] + np.array([0.5, -0.5])[:, None, None])
    np.testing.assert_allclose(bn(mc.tensor(x)).numpy(), want, rtol=1e-5, atol=1e-6)
    # a single example works in eval (no batch statistics needed)
    assert bn(mc.tensor(x[:1, :, :1, :1])).shape == (1, 2, 1, 1)


def test_state_dict_keys_and_flags():
    assert list(nn.BatchNorm2d(4).state_dict()) == [
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert list(nn.BatchNorm1d(4, affine=False).state_dict()) == [
        "running_mean", "running_var", "num_batches_tracked"]
    no_stats = nn.BatchNorm1d(4, track_running_stats=False)
    assert list(no_stats.state_dict()) == ["weight", "bias"]
    no_stats.eval()                            # no running stats: batch statistics even in eval
    y = no_stats(mc.randn(6, 4)).numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    assert [n for n, _ in nn.BatchNorm2d(4).named_parameters()] == ["weight", "bias"]


def test_batchnorm1d_on_sequences_and_dtype():
    bn = nn.BatchNorm1d(3)
    y = bn(mc.randn(4, 3, 5))
    assert y.shape == (4, 3, 5) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy().mean(axis=(0, 2)), 0, atol=1e-5)


def test_errors_speak_to_the_student():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(mc.randn(1, 3))
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.BatchNorm2d(3)(mc.randn(2, 3, 4))
    with pytest.raises(ValueError, match="expected 2D or 3D input"):
        nn.BatchNorm1d(3)(mc.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match="num_features=3"):
        nn.BatchNorm2d(3)(mc.randn(2, 4, 2, 2))
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(mc.randn(2, 3), None, None, training=False)


def test_repr_matches_pytorch():
    assert repr(nn.BatchNorm2d(64)) == \
        "BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    assert repr(nn.BatchNorm1d(8, eps=1e-3, momentum=None, affine=False)) == \
        "BatchNorm1d(8, eps=0.001, momentum=None, affine=False, bias=False, track_running_stats=True)"


def test_bias_false_keeps_only_the_scale():
    bn = nn.BatchNorm2d(3, bias=False)
    assert list(bn.state_dict()) == ["weight", "running_mean", "running_var", "num_batches_tracked"]
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 3, 2, 2)), requires_grad=True, dtype=np.float64)
    bn.double()
    assert mc.gradcheck(bn, (x,))
