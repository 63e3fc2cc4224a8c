"""The core against PyTorch: forward values and gradients of every op, losses, Linear/Sequential.

Skipped when torch is not installed.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn
from strategies import broadcastable_shapes, float64_arrays, matmul_shapes

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.torch


def compare(ours_fn, torch_fn, *arrays, dtype=np.float64, no_grad_args=(), rtol=1e-10, atol=1e-12):
    """Run both frameworks on the same arrays; compare outputs and input gradients.

    The output gradient is a fixed random array, so every element of every input
    gradient is compared, not just the sum.
    """
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    ours_in = [mc.tensor(a, requires_grad=i not in no_grad_args) for i, a in enumerate(arrays)]
    torch_in = [torch.tensor(a, requires_grad=i not in no_grad_args) for i, a in enumerate(arrays)]
    ours_out, torch_out = ours_fn(*ours_in), torch_fn(*torch_in)
    assert ours_out.shape == tuple(torch_out.shape)
    assert ours_out.dtype == dtype
    np.testing.assert_allclose(ours_out.numpy(), torch_out.detach().numpy(), rtol=rtol, atol=atol)
    upstream = np.random.default_rng(0).standard_normal(ours_out.shape).astype(dtype)
    ours_out.backward(mc.tensor(upstream))
    torch_out.backward(torch.tensor(upstream))
    for i, (o, t) in enumerate(zip(ours_in, torch_in)):
        if i in no_grad_args:
            continue
        assert o.grad is not None, f"input {i} got no gradient"
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i}")


def rand(*shape, seed=0, low=-2.0, high=2.0):
    return np.random.default_rng(seed + 7 * len(shape)).uniform(low, high, shape)


# ---------------------------------------------------------------------- elementwise
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "pow": (lambda a, b: a.abs() ** b, lambda a, b: a.abs() ** b),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_broadcasting(name, data):
    shape_a, shape_b = data.draw(broadcastable_shapes())
    a = data.draw(float64_arrays(shape_a, margin=0.3))
    b = data.draw(float64_arrays(shape_b, margin=0.3))
    compare(*BINARY[name], a, b)


UNARY = {
    "neg": (lambda x: -x, lambda x: -x),
    "exp": (lambda x: x.exp(), lambda x: x.exp()),
    "log": (lambda x: x.abs().log(), lambda x: x.abs().log()),
    "sqrt": (lambda x: x.abs().sqrt(), lambda x: x.abs().sqrt()),
    "abs": (lambda x: x.abs(), lambda x: x.abs()),
    "clamp": (lambda x: x.clamp(-0.5, 1.0), lambda x: x.clamp(-0.5, 1.0)),
    "clamp_min": (lambda x: x.clamp(min=0.2), lambda x: x.clamp(min=0.2)),
    "pow2": (lambda x: x ** 2, lambda x: x ** 2),
    "pow_half": (lambda x: x.abs() ** 0.5, lambda x: x.abs() ** 0.5),
    "pow_neg": (lambda x: x.abs() ** -1.5, lambda x: x.abs() ** -1.5),
    "rpow": (lambda x: 3.0 ** x, lambda x: 3.0 ** x),
    "rsub_rdiv": (lambda x: (1 - x) + 2 / x, lambda x: (1 - x) + 2 / x),
    "relu": (F.relu, TF.relu),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1)),
    "leaky_relu_default": (F.leaky_relu, TF.leaky_relu),
    "tanh": (F.tanh, torch.tanh),
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "clone": (lambda x: x.clone() * 2, lambda x: x.clone() * 2),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary(name, dtype):
    a = rand(3, 4, seed=1)
    a[np.abs(a) < 0.05] = 0.3        # away from kinks and poles
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else {}
    compare(*UNARY[name], a, dtype=dtype, **tol)


# --------------------------------------------------------------------------- matmul
@given(shapes=matmul_shapes())
def test_matmul(shapes):
    a, b = rand(*shapes[0], seed=2), rand(*shapes[1], seed=3)
    compare(lambda x, y: x @ y, lambda x, y: x @ y, a, b)


# ----------------------------------------------------------------------- reductions
@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2), (-1, 0)])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_mean(name, dim, keepdim):
    a = rand(2, 3, 4)
    if dim is None:
        compare(lambda x: getattr(x, name)(), lambda x: getattr(x, name)(), a)
    else:
        compare(lambda x: getattr(x, name)(dim=dim, keepdim=keepdim),
                lambda x: getattr(x, name)(dim=dim, keepdim=keepdim), a)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_max_dim_values_and_indices(dim, keepdim):
    a = np.random.default_rng(4).permutation(24).reshape(2, 3, 4).astype(np.float64)
    compare(lambda x: x.max(dim=dim, keepdim=keepdim).values, lambda x: x.max(dim=dim, keepdim=keepdim).values, a)
    ours, theirs = mc.tensor(a).max(dim, keepdim), torch.tensor(a).max(dim, keepdim)
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    np.testing.assert_array_equal(mc.tensor(a).argmax(dim=dim).numpy(), torch.tensor(a).argmax(dim=dim).numpy())


def test_max_all_shares_ties_like_torch():
    compare(lambda x: x.max(), lambda x: x.max(), [[1.0, 3.0, 3.0], [0.0, 3.0, -1.0]])
    compare(lambda x: x.max(), lambda x: x.max(), rand(3, 4))


@pytest.mark.parametrize("unbiased", [True, False])
def test_var(unbiased):
    compare(lambda x: x.var(dim=1, unbiased=unbiased), lambda x: x.var(dim=1, unbiased=unbiased), rand(3, 5))


# ------------------------------------------------------------------------ shape ops
SHAPE_OPS = {
    "reshape": (lambda x: x.reshape(4, -1), lambda x: x.reshape(4, -1)),
    "view": (lambda x: x.view(6, 4), lambda x: x.view(6, 4)),
    "flatten": (lambda x: x.flatten(), lambda x: x.flatten()),
    "flatten_1": (lambda x: x.flatten(1), lambda x: x.flatten(1)),
    "flatten_0_1": (lambda x: x.flatten(0, 1), lambda x: x.flatten(0, 1)),
    "transpose": (lambda x: x.transpose(0, 2), lambda x: x.transpose(0, 2)),
    "transpose_neg": (lambda x: x.transpose(-1, -2), lambda x: x.transpose(-1, -2)),
    "permute": (lambda x: x.permute(2, 0, 1), lambda x: x.permute(2, 0, 1)),
    "unsqueeze": (lambda x: x.unsqueeze(1), lambda x: x.unsqueeze(1)),
    "squeeze": (lambda x: x[:, :1].squeeze(1), lambda x: x[:, :1].squeeze(1)),
    "int": (lambda x: x[1], lambda x: x[1]),
    "negative_int": (lambda x: x[-1, 2], lambda x: x[-1, 2]),
    "slice": (lambda x: x[:, 1:], lambda x: x[:, 1:]),
    "step_slice": (lambda x: x[::2, :, 1::2], lambda x: x[::2, :, 1::2]),
    "ellipsis": (lambda x: x[..., 0], lambda x: x[..., 0]),
    "newaxis": (lambda x: x[:, None], lambda x: x[:, None]),
    "int_array_repeats": (lambda x: x[np.array([1, 0, 1, 1])], lambda x: x[torch.tensor([1, 0, 1, 1])]),
    "int_arrays_pair": (lambda x: x[np.array([0, 1, 1]), np.array([2, 0, 2])],
                        lambda x: x[torch.tensor([0, 1, 1]), torch.tensor([2, 0, 2])]),
    "bool_mask": (lambda x: x[x > 0], lambda x: x[x > 0]),
}


@pytest.mark.parametrize("name", sorted(SHAPE_OPS))
def test_shape_ops(name):
    compare(*SHAPE_OPS[name], rand(2, 3, 4))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack(dim):
    a, b, c = rand(2, 3, seed=1), rand(2, 3, seed=2), rand(2, 3, seed=3)
    compare(lambda *xs: mc.cat(xs, dim=dim), lambda *xs: torch.cat(xs, dim=dim), a, b, c)
    compare(lambda *xs: mc.stack(xs, dim=dim), lambda *xs: torch.stack(xs, dim=dim), a, b, c)
    compare(lambda *xs: F.cat(xs, dim=dim), lambda *xs: torch.cat(xs, dim=dim), a, b[:1] if dim == 0 else b[:, :1])


# --------------------------------------------------------------------- softmax family
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_softmax_family(name, dim, scale):
    compare(lambda x: getattr(F, name)(x, dim=dim), lambda x: getattr(TF, name)(x, dim=dim),
            rand(3, 4, 2) * scale, rtol=1e-9)


# ---------------------------------------------------------------------------- linear
@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_function(x_shape, bias):
    x, w, b = rand(*x_shape, seed=1), rand(5, 4, seed=2), rand(5, seed=3)
    if bias:
        compare(F.linear, TF.linear, x, w, b)
    else:
        compare(F.linear, TF.linear, x, w)


# ---------------------------------------------------------------------------- losses
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy(reduction, label_smoothing, dtype):
    logits = rand(6, 5, seed=5) * 3
    target = np.array([0, 4, 2, 2, 1, 3])
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else {}
    compare(lambda x: F.cross_entropy(x, mc.tensor(target), reduction=reduction, label_smoothing=label_smoothing),
            lambda x: TF.cross_entropy(x, torch.tensor(target), reduction=reduction,
                                       label_smoothing=label_smoothing),
            logits, dtype=dtype, **tol)
    module = nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing)
    torch_module = torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=label_smoothing)
    compare(lambda x: module(x, target), lambda x: torch_module(x, torch.tensor(target)), logits, dtype=dtype, **tol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction):
    target = np.array([1, 0, 3])
    compare(lambda x: F.nll_loss(F.log_softmax(x, dim=1), target, reduction=reduction),
            lambda x: TF.nll_loss(TF.log_softmax(x, dim=1), torch.tensor(target), reduction=reduction),
            rand(3, 4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    compare(lambda a, b: F.mse_loss(a, b, reduction=reduction),
            lambda a, b: TF.mse_loss(a, b, reduction=reduction), rand(3, 4, seed=1), rand(3, 4, seed=2))


# --------------------------------------------------------------------- nn modules
def make_pair(seed=0):
    """The same MLP in both frameworks (torch's weights copied into ours)."""
    torch.manual_seed(seed)
    theirs = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 16), torch.nn.ReLU(),
                                 torch.nn.Linear(16, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8, bias=False),
                                 torch.nn.LeakyReLU(0.2), torch.nn.Identity(), torch.nn.Linear(8, 4),
                                 torch.nn.Sigmoid(), torch.nn.Linear(4, 3), torch.nn.Softmax(dim=1))
    ours = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 8), nn.Tanh(),
                         nn.Linear(8, 8, bias=False), nn.LeakyReLU(0.2), nn.Identity(), nn.Linear(8, 4),
                         nn.Sigmoid(), nn.Linear(4, 3), nn.Softmax(dim=1))
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def test_sequential_repr_and_state_dict_keys_identical_to_torch():
    ours, theirs = make_pair()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert p.shape == tuple(q.shape)


def test_custom_module_repr_and_keys_identical_to_torch():
    def build(lib):
        class Net(lib.Module):
            def __init__(self):
                super().__init__()
                self.body = lib.Sequential(lib.Linear(4, 4), lib.ReLU())
                self.heads = lib.ModuleList([lib.Linear(4, 2) for _ in range(3)] + [lib.Linear(4, 1)])
                self.out = lib.Linear(2, 2, bias=False)

        return Net()

    ours, theirs = build(nn), build(torch.nn)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_weights_copied_from_torch_give_the_same_outputs_and_gradients():
    ours, theirs = make_pair()
    x = rand(5, 3, 4, seed=9).astype(np.float32)
    target = np.array([0, 2, 1, 1, 2])
    out_ours, out_theirs = ours(mc.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(out_ours.numpy(), out_theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    loss_ours = F.nll_loss(out_ours.log(), target)
    loss_theirs = TF.nll_loss(out_theirs.log(), torch.tensor(target))
    loss_ours.backward()
    loss_theirs.backward()
    np.testing.assert_allclose(loss_ours.item(), loss_theirs.item(), rtol=1e-5)
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


def test_weights_copied_into_torch_give_the_same_outputs():
    mc.manual_seed(3)
    ours = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    theirs.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    x = rand(4, 6).astype(np.float32)
    np.testing.assert_allclose(ours(mc.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_linear_init_distribution_matches_torch():
    """Same bound and spread as torch's default init (not the same draws)."""
    torch.manual_seed(0)
    ours, theirs = nn.Linear(50, 200), torch.nn.Linear(50, 200)
    for p, q in [(ours.weight, theirs.weight), (ours.bias, theirs.bias)]:
        q = q.detach().numpy()
        bound = 1 / np.sqrt(50)
        assert np.abs(p.numpy()).max() <= bound and np.abs(q).max() <= bound
        assert abs(p.numpy().std() - q.std()) < 0.15 * bound


@pytest.mark.parametrize("name, param", [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                                         ("leaky_relu", None), ("leaky_relu", 0.2), ("conv2d", None)])
def test_init_gains_match_torch(name, param):
    assert nn.init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))


@pytest.mark.parametrize("name, kwargs", [("kaiming_uniform_", {}), ("kaiming_normal_", {"nonlinearity": "relu"}),
                                          ("kaiming_uniform_", {"a": 5 ** 0.5}), ("xavier_uniform_", {}),
                                          ("xavier_normal_", {"gain": 2.0}),
                                          ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"})])
def test_init_spread_matches_torch(name, kwargs):
    """Conv-shaped weights (fan_in = in * kh * kw): same standard deviation as torch's init."""
    ours = nn.Parameter(np.empty((64, 32, 3, 3), np.float32))
    theirs = torch.empty(64, 32, 3, 3)
    getattr(nn.init, name)(ours, **kwargs)
    getattr(torch.nn.init, name)(theirs, **kwargs)
    assert ours.numpy().std() == pytest.approx(theirs.std().item(), rel=0.03)
    if name.endswith("uniform_"):
        assert np.abs(ours.numpy()).max() <= np.abs(theirs.numpy()).max() * 1.01 + 1e-6
