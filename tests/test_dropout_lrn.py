"""Dropout (inverted scaling, seeded masks), local response normalization and channel concatenation."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from minicnn.kernels import reference_norm as ref
from minicnn.kernels.cpu import batchnorm as fast


def _t64(a):
    return mc.tensor(a, requires_grad=True, dtype=np.float64)


# ------------------------------------------------------------------ dropout
@given(st.floats(0.0, 0.9), st.integers(0, 1000))
def test_dropout_keeps_the_expected_value(p, seed):
    mc.manual_seed(seed)
    n = 20000
    y = F.dropout(mc.ones(n), p=p, training=True).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)      # survivors scaled by 1/(1-p)
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs((1 - kept.mean()) - p) < 6 * sigma + 1e-9              # drop rate p
    assert abs(y.mean() - 1) < 6 * sigma / (1 - p) + 1e-9             # E[y] = x


def test_dropout_edge_cases_and_modes():
    x = mc.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0).numpy(), 0)
    layer = nn.Dropout(0.3)
    assert np.any(layer(x).numpy() != x.numpy())
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout(x, -0.1)
    assert repr(nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    assert repr(nn.Dropout2d(0.2)) == "Dropout2d(p=0.2, inplace=False)"


def test_dropout_masks_follow_manual_seed():
    x = mc.ones(100)
    mc.manual_seed(7)
    a = F.dropout(x, 0.5).numpy()
    mc.manual_seed(7)
    b = F.dropout(x, 0.5).numpy()
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


def test_dropout_gradient_is_the_mask():
    x = mc.randn(3, 4, requires_grad=True)
    y = F.dropout(x, 0.25)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(y.numpy() != 0, 1 / 0.75, 0), rtol=1e-6)


@pytest.mark.parametrize("op", [F.dropout, F.dropout2d])
def test_gradcheck_dropout_with_a_fixed_mask(op):
    x = _t64(np.random.default_rng(0).standard_normal((2, 3, 2, 2)))

    def fn(x):
        mc.manual_seed(3)               # the same mask on every call
        return op(x, 0.4, training=True)

    assert mc.gradcheck(fn, (x,))


def test_dropout2d_drops_whole_channels():
    mc.manual_seed(1)
    x = mc.ones(8, 16, 3, 3)
    y = nn.Dropout2d(0.5)(x).numpy()
    per_channel = y.reshape(8, 16, -1)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))     # each map: all 0 or all 2
    assert set(np.unique(per_channel)) == {0.0, 2.0}
    with pytest.raises(ValueError, match="N, C, H, W"):
        F.dropout2d(mc.ones(4, 3))


# ------------------------------------------------------------------ LRN
def lrn_loops(x, size, alpha, beta, k):
    """The LRN formula read literally: one channel window at a time."""
    y = np.empty_like(x)
    c = x.shape[1]
    for ch in range(c):
        lo, hi = max(0, ch - size // 2), min(c - 1, ch + (size - 1) // 2)
        s = (x[:, lo:hi + 1] ** 2).sum(axis=1)
        y[:, ch] = x[:, ch] / (k + alpha / size * s) ** beta
    return y


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_lrn_matches_the_formula(size):
    x = np.random.default_rng(size).standard_normal((2, 6, 3, 2)) * 3
    got = F.local_response_norm(mc.tensor(x, dtype=np.float64), size, alpha=0.3, beta=0.75, k=2.0)
    np.testing.assert_allclose(got.numpy(), lrn_loops(x, size, 0.3, 0.75, 2.0), rtol=1e-12)


@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 5), st.integers(1, 9),
       st.sampled_from([np.float32, np.float64]), st.integers(0, 1000))
def test_lrn_kernels_match_reference(n, c, length, size, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, length)) * 3).astype(dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    y, d = fast.local_response_norm_forward(x, size, 0.4, 0.75, 1.5)
    y_ref, d_ref = ref.local_response_norm_forward(x, size, 0.4, 0.75, 1.5)
    assert y.dtype == d.dtype == dtype
    np.testing.assert_allclose(y, y_ref, **tol)
    np.testing.assert_allclose(d, d_ref, **tol)
    np.testing.assert_allclose(fast.local_response_norm_backward(gy, x, d, size, 0.4, 0.75),
                               ref.local_response_norm_backward(gy, x, d_ref, size, 0.4, 0.75), **tol)


@pytest.mark.parametrize("size", [2, 3, 5])
@pytest.mark.parametrize("shape", [(2, 5, 3), (1, 4, 2, 3)])
def test_gradcheck_lrn(size, shape):
    x = _t64(np.random.default_rng(0).standard_normal(shape) * 2)
    assert mc.gradcheck(lambda x: F.local_response_norm(x, size, alpha=0.5, beta=0.75, k=1.0), (x,))


def test_lrn_layer_dtype_repr_and_errors():
    layer = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    y = layer(mc.randn(2, 8, 4, 4))
    assert y.shape == (2, 8, 4, 4) and y.dtype == np.float32
    assert repr(layer) == "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=2.0)"
    with pytest.raises(ValueError, match="3D or higher"):
        layer(mc.randn(2, 8))


# ------------------------------------------------------------------ cat
def test_gradcheck_cat_along_channels():
    rng = np.random.default_rng(0)
    parts = [_t64(rng.standard_normal((2, c, 2, 2))) for c in (1, 3, 2)]
    assert mc.gradcheck(lambda a, b, c: mc.cat([a, b * 2, c], dim=1), parts)
    assert mc.cat(parts, dim=1).shape == (2, 6, 2, 2)
