"""F.pad's reflect / replicate / circular modes and Conv2d's padding_mode."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn

MODES = ["reflect", "replicate", "circular"]


@pytest.mark.parametrize("mode", MODES)
def test_pad_modes_gradcheck(mode):
    x = mc.tensor(np.random.default_rng(0).standard_normal((2, 2, 4, 5)), dtype=np.float64, requires_grad=True)
    assert mc.gradcheck(lambda t: F.pad(t, (1, 3, 2, 0), mode=mode), [x])


@given(h=st.integers(2, 6), w=st.integers(2, 6), data=st.data())
def test_pad_modes_match_numpy(h, w, data):
    mode = data.draw(st.sampled_from(MODES))
    limit_h, limit_w = (h - 1, w - 1) if mode == "reflect" else (h, w)
    l, r = data.draw(st.integers(0, limit_w)), data.draw(st.integers(0, limit_w))
    t, b = data.draw(st.integers(0, limit_h)), data.draw(st.integers(0, limit_h))
    x = np.arange(2 * h * w, dtype=np.float32).reshape(1, 2, h, w)
    y = F.pad(mc.tensor(x), (l, r, t, b), mode=mode).numpy()
    np_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    np.testing.assert_array_equal(y, np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)), mode=np_mode))


def test_pad_mode_errors():
    x = mc.randn(1, 1, 3, 3)
    with pytest.raises(ValueError, match="size - 1"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="mode must be"):
        F.pad(x, (1, 1), mode="mirror")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(1, 1, 3, padding_mode="mirror")


@pytest.mark.torch
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("padding", [1, (2, 1), "same"])
def test_conv2d_padding_mode_matches_torch(mode, padding):
    torch = pytest.importorskip("torch")
    ours = nn.Conv2d(2, 3, (3, 4), padding=padding, padding_mode=mode).double()
    theirs = torch.nn.Conv2d(2, 3, (3, 4), padding=padding, padding_mode=mode).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.numpy()))
        theirs.bias.copy_(torch.from_numpy(ours.bias.numpy()))
    x = np.random.default_rng(1).standard_normal((2, 2, 6, 7))
    xa, xb = mc.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ya, yb = ours(xa), theirs(xb)
    np.testing.assert_allclose(ya.numpy(), yb.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(2).standard_normal(ya.shape)
    ya.backward(g)
    yb.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xa.grad.numpy(), xb.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-10, atol=1e-10)
    assert repr(ours) == repr(theirs)
