"""nn.Module and the basic layers: registration, traversal, modes, state dicts, hooks, repr, Linear init."""
import copy
import math
from collections import OrderedDict

import numpy as np
import pytest

import minicnn as mc
import minicnn.functional as F
import minicnn.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 6), nn.Tanh())
        self.heads = nn.ModuleList([nn.Linear(6, 2), nn.Linear(6, 3, bias=False)])
        self.scale = nn.Parameter(np.ones(1, np.float32))
        self.register_buffer("steps", np.zeros(1, np.float32))
        self.note = "not a parameter"

    def forward(self, x):
        h = self.features(x) * self.scale
        return [head(h) for head in self.heads]


PARAMETER_NAMES = ["scale", "features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias",
                   "heads.0.weight", "heads.0.bias", "heads.1.weight"]


# ------------------------------------------------------------------ registration
def test_parameters_and_names():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == PARAMETER_NAMES
    params = list(net.parameters())
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert sum(p.numel() for p in params) == 1 + 4 * 8 + 8 + 8 * 6 + 6 + 6 * 2 + 2 + 6 * 3
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in net.named_buffers()] == ["steps"]
    assert net.note == "not a parameter"


def test_parameter_from_array_tensor_or_ints():
    p = nn.Parameter(np.arange(3, dtype=np.float64))
    assert p.requires_grad and p.dtype == np.float64 and p.is_leaf
    assert nn.Parameter(mc.tensor([1.0, 2.0])).dtype == np.float32
    assert nn.Parameter(np.arange(3)).dtype == np.float32     # integers become trainable floats
    assert repr(nn.Parameter(np.array([1.0, 2.0], np.float32))) == \
        "Parameter containing:\ntensor([1., 2.], requires_grad=True)"


def test_shared_parameters_are_listed_once():
    shared = nn.Linear(3, 3)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq.parameters())) == 2


def test_children_and_modules():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["features", "heads"]
    assert list(net.children()) == [net.features, net.heads]
    names = [n for n, _ in net.named_modules()]
    assert names == ["", "features", "features.0", "features.1", "features.2", "features.3",
                     "heads", "heads.0", "heads.1"]
    assert next(iter(net.modules())) is net


def test_unknown_attribute_raises_attribute_error():
    net = Net()
    with pytest.raises(AttributeError, match="'Net' object has no attribute 'fc9'"):
        _ = net.fc9
    assert not hasattr(net, "fc9")
    assert getattr(net, "fc9", None) is None


def test_assigning_a_plain_tensor_over_a_parameter_is_refused():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match=r"cannot assign Tensor as parameter 'weight'.*Parameter or None"):
        lin.weight = mc.zeros(2, 2)
    lin.weight = nn.Parameter(np.zeros((2, 2), np.float32))
    assert lin.weight.numpy().sum() == 0 and len(list(lin.parameters())) == 2


def test_module_needs_super_init():
    class Forgot(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Forgot()


def test_sequential_rejects_functions():
    with pytest.raises(TypeError, match="must be a Module.*function"):
        nn.Sequential(nn.Linear(2, 2), F.relu)


# ------------------------------------------------------------------------ modes
def test_train_eval_sets_every_module_flag():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.features.train()                 # each module keeps its own flag
    assert net.features.training and net.features[0].training
    assert not net.training and not net.heads.training
    net.train()
    assert all(m.training for m in net.modules())


def test_requires_grad_freezes_parameters():
    net = Net()
    net.features.requires_grad_(False)
    assert not any(p.requires_grad for p in net.features.parameters())
    x = mc.tensor(np.ones((2, 4)))
    outs = net(x)
    (outs[0].sum() + outs[1].sum()).backward()
    assert all(p.grad is None for p in net.features.parameters())
    assert all(p.grad is not None for p in net.heads.parameters())


def test_zero_grad():
    net = Net()
    outs = net(mc.tensor(np.ones((2, 4))))
    (outs[0].sum() + outs[1].sum()).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


# ------------------------------------------------------------------- state dict
def test_state_dict_keys_values_and_sharing():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["scale", "steps", "features.0.weight", "features.0.bias", "features.2.weight",
                        "features.2.bias", "heads.0.weight", "heads.0.bias", "heads.1.weight"]
    assert all(not v.requires_grad for v in sd.values())
    assert np.shares_memory(sd["features.0.weight"].numpy(), net.features[0].weight.numpy())


def test_non_persistent_buffers_are_left_out():
    m = nn.Module()
    m.register_buffer("kept", np.zeros(2))
    m.register_buffer("scratch", np.zeros(2), persistent=False)
    assert list(m.state_dict()) == ["kept"]


@pytest.mark.parametrize("as_tensor", [False, True])
def test_load_state_dict_round_trip(as_tensor):
    mc.manual_seed(1)
    a = Net()
    mc.manual_seed(2)
    b = Net()
    x = mc.tensor(np.random.default_rng(0).standard_normal((3, 4)))
    assert not np.allclose(a(x)[0].numpy(), b(x)[0].numpy())
    sd = {k: (v if as_tensor else v.numpy().copy()) for k, v in a.state_dict().items()}
    result = b.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for out_a, out_b in zip(a(x), b(x)):
        np.testing.assert_array_equal(out_a.numpy(), out_b.numpy())
    a.features[0].weight.data += 1     # values were copied, not aliased
    assert not np.allclose(a.features[0].weight.numpy(), b.features[0].weight.numpy())


def test_load_state_dict_casts_float64_arrays_to_the_parameter_dtype():
    lin = nn.Linear(2, 2)
    lin.load_state_dict({"weight": np.eye(2), "bias": np.zeros(2)})
    assert lin.weight.dtype == np.float32
    np.testing.assert_array_equal(lin.weight.numpy(), np.eye(2))


def test_load_state_dict_missing_and_unexpected_keys():
    lin = nn.Linear(3, 2)
    with pytest.raises(RuntimeError,
                       match=r'(?s)Error\(s\) in loading state_dict for Linear.*Missing key\(s\).*"bias"'):
        lin.load_state_dict({"weight": np.zeros((2, 3))})
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "extra"'):
        lin.load_state_dict({"weight": np.zeros((2, 3)), "bias": np.zeros(2), "extra": np.zeros(1)})
    result = lin.load_state_dict({"weight": np.ones((2, 3)), "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(lin.weight.numpy(), np.ones((2, 3)))


def test_load_state_dict_shape_mismatch_names_key_and_shapes():
    net = Net()
    sd = {k: v.numpy() for k, v in net.state_dict().items()}
    sd["heads.0.weight"] = np.zeros((3, 6))
    before = net.features[0].weight.numpy().copy()
    sd["features.0.weight"] = np.zeros((8, 4))
    with pytest.raises(RuntimeError, match=r"size mismatch for heads\.0\.weight.*\(3, 6\).*\(2, 6\)"):
        net.load_state_dict(sd)
    np.testing.assert_array_equal(net.features[0].weight.numpy(), before)   # nothing half-loaded
    with pytest.raises(RuntimeError, match="size mismatch"):
        net.load_state_dict(sd, strict=False)


def test_deepcopy_makes_independent_parameters():
    net = Net()
    twin = copy.deepcopy(net)
    assert twin.features[0].weight is not net.features[0].weight
    np.testing.assert_array_equal(twin.features[0].weight.numpy(), net.features[0].weight.numpy())
    twin.features[0].weight.data += 1
    assert not np.allclose(twin.features[0].weight.numpy(), net.features[0].weight.numpy())


def test_to_float64():
    net = Net().to(np.float64)
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net(mc.tensor(np.ones((1, 4))))[0].dtype == np.float64


# --------------------------------------------------------------------- calling
def test_forward_hooks_and_pre_hooks():
    lin = nn.Linear(2, 2)
    seen = []
    h1 = lin.register_forward_hook(lambda m, inputs, out: seen.append((m, inputs[0].shape, out.shape)))
    h2 = lin.register_forward_hook(lambda m, inputs, out: out * 0)      # a return value replaces the output
    y = lin(mc.ones(5, 2))
    assert seen == [(lin, (5, 2), (5, 2))] and not y.numpy().any()
    h2.remove()
    assert lin(mc.ones(5, 2)).numpy().any() and len(seen) == 2
    h1.remove()
    pre = lin.register_forward_pre_hook(lambda m, inputs: (inputs[0] * 0,))
    np.testing.assert_allclose(lin(mc.ones(1, 2)).numpy()[0], lin.bias.numpy())
    pre.remove()


def test_module_without_forward():
    with pytest.raises(TypeError, match="forward"):
        nn.Module()(mc.ones(1))


def test_containers():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers and seq[-1] is layers[2]
    assert list(seq[1:]) == layers[1:] and isinstance(seq[1:], nn.Sequential)
    x = mc.ones(4, 2)
    np.testing.assert_array_equal(seq(x).numpy(), layers[2](layers[1](layers[0](x))).numpy())
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["fc.weight", "fc.bias"] and named.fc is named[0]
    ml = nn.ModuleList([nn.Linear(1, 1)]).append(nn.Linear(1, 2))
    assert len(ml) == 2 and [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(TypeError, match="not callable"):
        ml(x)


def test_simple_layers():
    x = mc.tensor(np.linspace(-2, 2, 24, dtype=np.float32).reshape(2, 3, 4))
    assert nn.Identity(5, unused=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 12) and nn.Flatten(0)(x).shape == (24,)
    assert nn.Flatten(1, 1)(x).shape == (2, 3, 4)
    np.testing.assert_array_equal(nn.ReLU()(x).numpy(), F.relu(x).numpy())
    np.testing.assert_array_equal(nn.Tanh()(x).numpy(), F.tanh(x).numpy())
    np.testing.assert_array_equal(nn.Sigmoid()(x).numpy(), F.sigmoid(x).numpy())
    np.testing.assert_array_equal(nn.LeakyReLU(0.3)(x).numpy(), F.leaky_relu(x, 0.3).numpy())
    np.testing.assert_array_equal(nn.Softmax(dim=1)(x).numpy(), F.softmax(x, dim=1).numpy())
    np.testing.assert_array_equal(nn.LogSoftmax(dim=1)(x).numpy(), F.log_softmax(x, dim=1).numpy())


# ------------------------------------------------------------------------ repr
def test_nested_repr_like_pytorch():
    assert repr(Net()) == """Net(
  (features): Sequential(
    (0): Linear(in_features=4, out_features=8, bias=True)
    (1): ReLU()
    (2): Linear(in_features=8, out_features=6, bias=True)
    (3): Tanh()
  )
  (heads): ModuleList(
    (0): Linear(in_features=6, out_features=2, bias=True)
    (1): Linear(in_features=6, out_features=3, bias=False)
  )
)"""
    assert repr(nn.ModuleList([nn.Linear(2, 2)] * 3 + [nn.ReLU()])) == (
        "ModuleList(\n  (0-2): 3 x Linear(in_features=2, out_features=2, bias=True)\n  (3): ReLU()\n)")
    assert repr(nn.Sequential()) == "Sequential()"
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"


# ---------------------------------------------------------------------- Linear
def test_linear_shapes_and_bad_input():
    lin = nn.Linear(5, 3)
    assert lin.weight.shape == (3, 5) and lin.bias.shape == (3,) and lin.weight.dtype == np.float32
    assert lin(mc.ones(5)).shape == (3,) and lin(mc.ones(2, 7, 5)).shape == (2, 7, 3)
    assert nn.Linear(5, 3, bias=False).bias is None
    with pytest.raises(ValueError, match=r"Linear\(5, 3\): expected input with 5 features.*\(2, 4\)"):
        lin(mc.ones(2, 4))
    with pytest.raises(ValueError, match=r"linear: input has 4 features.*in_features=5"):
        F.linear(mc.ones(2, 4), lin.weight)
    with pytest.raises(ValueError, match=r"linear: bias has shape \(2,\), expected \(3,\)"):
        F.linear(mc.ones(2, 5), lin.weight, mc.ones(2))


@pytest.mark.parametrize("fan_in, fan_out", [(16, 400), (300, 50)])
def test_linear_default_init_matches_pytorch_bound(fan_in, fan_out):
    """kaiming_uniform_(a=sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias."""
    lin = nn.Linear(fan_in, fan_out)
    bound = 1 / math.sqrt(fan_in)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    n = w.size
    # uniform on [-bound, bound]: mean 0, std bound/sqrt(3); the extremes come close to the bound
    assert abs(w.mean()) < 5 * bound / math.sqrt(3 * n)
    assert abs(w.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert np.abs(w).max() > 0.99 * bound
    # a Kolmogorov-Smirnov style check of the whole distribution
    sorted_w = np.sort(w.ravel())
    cdf = (sorted_w + bound) / (2 * bound)
    assert np.abs(cdf - np.arange(1, n + 1) / n).max() < 1.63 / math.sqrt(n) + 1 / n   # 1% level


def test_dir_lists_parameters_and_submodules_for_tab_completion():
    names = dir(Net())
    assert {"features", "heads", "scale", "steps", "forward", "note"} <= set(names)


def test_train_calls_children_so_subclasses_can_override_it():
    class FrozenInEval(nn.Module):
        """A layer that stays in eval mode (e.g. frozen statistics in transfer learning)."""

        def train(self, mode=True):
            return super().train(False)

    net = nn.Sequential(nn.Linear(2, 2), FrozenInEval())
    net.train()
    assert net.training and net[0].training and not net[1].training
