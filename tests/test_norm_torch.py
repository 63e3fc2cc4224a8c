"""BatchNorm, LRN and dropout against PyTorch: forward, backward and running statistics."""
import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _pair(shape, seed=0, scale=2.0, offset=0.5):
    a = np.random.default_rng(seed).standard_normal(shape) * scale + offset
    return mc.tensor(a, requires_grad=True, dtype=np.float64), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
@pytest.mark.parametrize("cls, shape", [("BatchNorm1d", (5, 3)), ("BatchNorm1d", (4, 3, 6)),
                                        ("BatchNorm2d", (3, 4, 5, 2))])
def test_batchnorm_matches_torch(cls, shape, momentum):
    c = shape[1]
    ours = getattr(nn, cls)(c, momentum=momentum).double()
    theirs = getattr(torch.nn, cls)(c, momentum=momentum).double()
    rng = np.random.default_rng(1)
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    ours.load_state_dict({**ours.state_dict(), "weight": w, "bias": b})
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(w))
        theirs.bias.copy_(torch.tensor(b))
    for step in range(3):   # several training batches move the running statistics
        x, xt = _pair(shape, seed=step, offset=step)
        y, yt = ours(x), theirs(xt)
        np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
        g = np.random.default_rng(10 + step).standard_normal(shape)
        y.backward(g)
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), rtol=1e-9)
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-10, err_msg=key)
    ours.eval()
    theirs.eval()
    x, xt = _pair(shape, seed=9)
    y, yt = ours(x), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = np.ones(shape)
    y.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10)


def test_batchnorm_state_dict_loads_into_torch():
    ours = nn.BatchNorm2d(3)
    ours(mc.randn(4, 3, 2, 2))
    theirs = torch.nn.BatchNorm2d(3)
    theirs.load_state_dict({k: torch.from_numpy(np.array(v.numpy())) for k, v in ours.state_dict().items()})
    assert theirs.num_batches_tracked.item() == 1
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("size, alpha, beta, k", [(5, 1e-4, 0.75, 2.0), (3, 0.5, 0.6, 1.0),
                                                  (4, 1.0, 1.0, 0.5), (1, 0.2, 0.75, 1.0)])
@pytest.mark.parametrize("shape", [(2, 7, 3, 4), (2, 5, 6)])
def test_lrn_matches_torch(size, alpha, beta, k, shape):
    x, xt = _pair(shape, scale=3.0)
    y = F.local_response_norm(x, size, alpha, beta, k)
    yt = torch.nn.functional.local_response_norm(xt, size, alpha, beta, k)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(3).standard_normal(shape)
    y.backward(g)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert repr(nn.LocalResponseNorm(size, alpha, beta, k)) == repr(torch.nn.LocalResponseNorm(size, alpha, beta, k))


@pytest.mark.parametrize("name", ["Dropout", "Dropout2d"])
def test_dropout_semantics_match_torch(name):
    """Masks come from different generators, so compare the rule: y in {0, x/(1-p)}, identity in eval."""
    p = 0.3
    x = np.random.default_rng(0).standard_normal((4, 6, 3, 3)).astype(np.float32) + 5
    ours, theirs = getattr(nn, name)(p), getattr(torch.nn, name)(p)
    for y in (ours(mc.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy()):
        assert np.all(np.isclose(y, 0) | np.isclose(y, x / (1 - p)))
    ours.eval()
    theirs.eval()
    np.testing.assert_array_equal(ours(mc.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy())
    assert repr(ours) == repr(theirs)
