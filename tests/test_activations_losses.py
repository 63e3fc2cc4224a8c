"""Activations and losses: values against NumPy, numerical stability, properties, bad input."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from strategies import class_targets, float64_arrays, shapes


def log_softmax_ref(a, axis=-1):
    m = a.max(axis=axis, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis=axis, keepdims=True))


def cross_entropy_ref(logits, target, reduction="mean", label_smoothing=0.0):
    """PyTorch's documented formula: (1 - e) * nll + e * mean over classes of -log p."""
    log_p = log_softmax_ref(logits, axis=1)
    nll = -log_p[np.arange(len(target)), target]
    losses = (1 - label_smoothing) * nll + label_smoothing * (-log_p.mean(axis=1))
    return {"mean": losses.mean(), "sum": losses.sum(), "none": losses}[reduction]


@st.composite
def logits_and_targets(draw, max_n=6, max_c=6, scale=10.0):
    n, c = draw(st.integers(1, max_n)), draw(st.integers(1, max_c))
    return draw(float64_arrays((n, c), -scale, scale)), draw(class_targets(n, c))


# ------------------------------------------------------------------ activations
def test_activation_values():
    x = mc.tensor([-2.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(F.relu(x).numpy(), [0, 0, 0, 0.5, 2])
    np.testing.assert_allclose(F.leaky_relu(x).numpy(), [-0.02, -0.005, 0, 0.5, 2], rtol=1e-6)
    np.testing.assert_allclose(F.leaky_relu(x, 0.2).numpy(), [-0.4, -0.1, 0, 0.5, 2], rtol=1e-6)
    np.testing.assert_allclose(F.tanh(x).numpy(), np.tanh(x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(F.sigmoid(x).numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-6)


def test_relu_gradient_at_zero_is_zero_like_torch():
    x = mc.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    F.relu(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 1])
    x.grad = None
    F.leaky_relu(x, 0.1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.1, 0.1, 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_family_is_finite_for_huge_logits(dtype):
    x = mc.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype, requires_grad=True)
    p = F.softmax(x, dim=1)
    lp = F.log_softmax(x, dim=1)
    assert np.all(np.isfinite(p.numpy())) and np.all(np.isfinite(lp.numpy()))
    np.testing.assert_allclose(p.numpy(), [[1, 0, 0], [1 / 3] * 3, [0.5, 0.5, 0]], atol=1e-6)
    np.testing.assert_allclose(lp.numpy()[0], [0, -2e4, -1e4], rtol=1e-6)
    loss = F.cross_entropy(x, [1, 0, 2])
    assert np.isfinite(loss.item())
    np.testing.assert_allclose(loss.item(), (2e4 + np.log(3) + 2e4 + np.log(2)) / 3, rtol=1e-6)
    loss.backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    s = F.sigmoid(mc.tensor([-1e4, 1e4, -800.0, 800.0], dtype=dtype))
    np.testing.assert_array_equal(s.numpy(), [0, 1, 0, 1])
    assert s.dtype == dtype


@given(a=float64_arrays(shapes(min_dims=1), -50, 50), shift=st.floats(-100, 100), data=st.data())
def test_softmax_properties(a, shift, data):
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    p = F.softmax(mc.tensor(a), dim=dim).numpy()
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=dim), 1.0, rtol=1e-12)
    np.testing.assert_allclose(F.softmax(mc.tensor(a + shift), dim=dim).numpy(), p, atol=1e-12)
    np.testing.assert_allclose(F.log_softmax(mc.tensor(a), dim=dim).numpy(), log_softmax_ref(a, dim), atol=1e-10)


@given(a=float64_arrays(shapes(), -30, 30))
def test_sigmoid_tanh_identities(a):
    s = F.sigmoid(mc.tensor(a)).numpy()
    np.testing.assert_allclose(s + F.sigmoid(mc.tensor(-a)).numpy(), 1.0, rtol=1e-12)
    np.testing.assert_allclose(F.tanh(mc.tensor(a / 2)).numpy(), 2 * s - 1, atol=1e-12)


# ------------------------------------------------------------------------- losses
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=logits_and_targets(), smoothing=st.sampled_from([0.0, 0.05, 0.3, 1.0]))
def test_cross_entropy_matches_reference(reduction, case, smoothing):
    logits, target = case
    ours = F.cross_entropy(mc.tensor(logits), mc.tensor(target), reduction=reduction, label_smoothing=smoothing)
    expected = cross_entropy_ref(logits, target, reduction, smoothing)
    assert ours.shape == np.shape(expected) and ours.dtype == np.float64
    np.testing.assert_allclose(ours.numpy(), expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=logits_and_targets())
def test_cross_entropy_is_nll_of_log_softmax(reduction, case):
    logits, target = case
    x = mc.tensor(logits)
    np.testing.assert_allclose(F.cross_entropy(x, target, reduction=reduction).numpy(),
                               F.nll_loss(F.log_softmax(x, dim=1), target, reduction=reduction).numpy(),
                               rtol=1e-10, atol=1e-12)


@given(case=logits_and_targets())
def test_cross_entropy_gradient_is_softmax_minus_onehot(case):
    logits, target = case
    x = mc.tensor(logits, requires_grad=True)
    F.cross_entropy(x, target, reduction="sum").backward()
    onehot = np.eye(logits.shape[1])[target]
    np.testing.assert_allclose(x.grad.numpy(), np.exp(log_softmax_ref(logits, 1)) - onehot, atol=1e-12)


def test_cross_entropy_accepts_lists_arrays_and_tensors_and_keeps_float32():
    logits = mc.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3]])
    values = [F.cross_entropy(logits, t).item() for t in ([0, 2], np.array([0, 2]), mc.tensor([0, 2]))]
    assert values[0] == values[1] == values[2]
    assert F.cross_entropy(logits, [0, 2]).dtype == np.float32


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    a = mc.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = np.array([[1.5, 2.0], [2.0, 6.0]], np.float32)
    sq = (a.numpy() - b) ** 2
    out = F.mse_loss(a, b, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), {"mean": sq.mean(), "sum": sq.sum(), "none": sq}[reduction])
    out.sum().backward()
    scale = 1 / 4 if reduction == "mean" else 1
    np.testing.assert_allclose(a.grad.numpy(), 2 * (a.numpy() - b) * scale)


def test_loss_modules_call_the_functions():
    logits, target = mc.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), mc.tensor([1, 2])
    assert nn.CrossEntropyLoss()(logits, target).item() == F.cross_entropy(logits, target).item()
    assert nn.CrossEntropyLoss(label_smoothing=0.1)(logits, target).item() == pytest.approx(
        F.cross_entropy(logits, target, label_smoothing=0.1).item())
    assert nn.CrossEntropyLoss(reduction="none")(logits, target).shape == (2,)
    lp = F.log_softmax(logits, dim=1)
    assert nn.NLLLoss()(lp, target).item() == pytest.approx(F.cross_entropy(logits, target).item(), rel=1e-6)
    assert nn.MSELoss(reduction="sum")(logits, logits * 0).item() == pytest.approx((logits.numpy() ** 2).sum())


# ------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("target", [[0, 3], [-1, 0]])
def test_out_of_range_targets(fn, target):
    with pytest.raises(ValueError, match=r"target classes must lie in 0\.\.2"):
        fn(mc.zeros(2, 3), target)


@pytest.mark.parametrize("fn", [F.cross_entropy, F.nll_loss], ids=["cross_entropy", "nll_loss"])
def test_bad_target_shape_dtype_and_input_rank(fn):
    with pytest.raises(ValueError, match=r"integer class targets of shape \(2,\).*\(1,\)"):
        fn(mc.zeros(2, 3), [0])
    with pytest.raises(ValueError, match=r"integer class targets.*float32"):
        fn(mc.zeros(2, 3), mc.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"\(N, C\), got \(3,\)"):
        fn(mc.zeros(3), [0])
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        fn(mc.zeros(2, 3), [0, 1], reduction="avg")


def test_bad_label_smoothing_and_mse_shapes():
    with pytest.raises(ValueError, match=r"label_smoothing must lie in \[0, 1\], got 1.5"):
        F.cross_entropy(mc.zeros(2, 3), [0, 1], label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(2, 3\) and target shape \(3, 2\)"):
        F.mse_loss(mc.zeros(2, 3), mc.zeros(3, 2))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(mc.zeros(2), mc.zeros(2), reduction="max")
