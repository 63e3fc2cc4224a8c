"""minicnn.optim: update rules checked against numbers worked out by hand, groups, state dicts, schedulers."""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minicnn as mc
from minicnn import optim
from minicnn.nn import Linear, Parameter
from minicnn.optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, MultiStepLR, StepLR


def param(values, dtype=np.float64):
    return Parameter(np.array(values, dtype=dtype))


def set_grad(p, values):
    p.grad = mc.Tensor(np.array(values, dtype=p.dtype))


def run(opt, p, grads):
    """Feed the gradients one step each; return the parameter's values after every step."""
    out = []
    for g in grads:
        set_grad(p, g)
        opt.step()
        out.append(p.data.copy())
    return out


# ------------------------------------------------------------------- SGD by hand
def test_sgd_plain_step():
    p = param([1.0, -2.0])
    run(optim.SGD([p], lr=0.1), p, [[0.5, 1.0]])
    np.testing.assert_allclose(p.data, [0.95, -2.1], rtol=1e-15)


def test_sgd_weight_decay_folds_into_gradient():
    p = param([1.0, -2.0])
    run(optim.SGD([p], lr=0.1, weight_decay=0.1), p, [[0.5, 1.0]])   # g + 0.1 p = [0.6, 0.8]
    np.testing.assert_allclose(p.data, [0.94, -2.08], rtol=1e-15)


def test_sgd_maximize_climbs():
    p = param([1.0, -2.0])
    run(optim.SGD([p], lr=0.1, maximize=True), p, [[0.5, 1.0]])
    np.testing.assert_allclose(p.data, [1.05, -1.9], rtol=1e-15)


@pytest.mark.parametrize("options, expected", [
    # buffer starts at the first gradient: b1 = 1 -> p = 0.9; b2 = 0.9 * 1 + 0.5 = 1.4 -> p = 0.76
    (dict(momentum=0.9), [0.9, 0.76]),
    # the first step is not dampened: b1 = 1; b2 = 0.9 + 0.5 * 0.5 = 1.15 -> p = 0.9 - 0.115
    (dict(momentum=0.9, dampening=0.5), [0.9, 0.785]),
    # nesterov: g + 0.9 b: 1 + 0.9 = 1.9 -> 0.81; b2 = 1.4, 0.5 + 1.26 = 1.76 -> 0.634
    (dict(momentum=0.9, nesterov=True), [0.81, 0.634]),
])
def test_sgd_momentum_by_hand(options, expected):
    p = param([1.0])
    trajectory = run(optim.SGD([p], lr=0.1, **options), p, [[1.0], [0.5]])
    np.testing.assert_allclose(np.concatenate(trajectory), expected, rtol=1e-14)


@settings(deadline=None)
@given(mu=st.floats(0.0, 0.99), lr=st.floats(1e-3, 1.0), g=st.floats(-10, 10), n=st.integers(1, 30))
def test_sgd_momentum_constant_gradient_closed_form(mu, lr, g, n):
    """With a constant gradient b_k = g (1 - mu^k) / (1 - mu), so p_n = p_0 - lr g sum_k (1 - mu^k)/(1 - mu)."""
    p = param([0.0])
    run(optim.SGD([p], lr=lr, momentum=mu), p, [[g]] * n)
    expected = -lr * g * sum((1 - mu ** k) / (1 - mu) for k in range(1, n + 1))
    np.testing.assert_allclose(p.data[0], expected, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ Adam by hand
def test_adam_constant_gradient_moves_lr_per_step():
    """Bias correction makes m_hat = g and v_hat = g^2 exactly when g is constant: each step is lr * sign(g)."""
    p = param([1.0, -2.0])
    trajectory = run(optim.Adam([p], lr=0.1), p, [[0.5, -4.0]] * 3)
    np.testing.assert_allclose(trajectory, [[0.9, -1.9], [0.8, -1.8], [0.7, -1.7]], atol=1e-7)


def test_adam_l2_weight_decay_enters_the_gradient():
    p = param([1.0, -2.0])
    run(optim.Adam([p], lr=0.1, weight_decay=0.5), p, [[0.0, 0.0]])   # g = 0.5 p: one lr * sign(p) step
    np.testing.assert_allclose(p.data, [0.9, -1.9], atol=1e-7)


def test_adamw_decay_is_decoupled():
    """With a zero gradient the moments stay 0, so AdamW only shrinks p by (1 - lr * wd) = 0.95 each step."""
    p = param([1.0, -2.0])
    run(optim.AdamW([p], lr=0.1, weight_decay=0.5), p, [[0.0, 0.0]] * 2)
    np.testing.assert_allclose(p.data, [0.9025, -1.805], rtol=1e-15)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_amsgrad_keeps_the_largest_second_moment(amsgrad):
    # step 1, g = 1: m = 0.1, v = 0.001, p = -0.1 / (1 + 1e-8)
    # step 2, g = 0: m = 0.09, v = 0.000999 (amsgrad keeps v_max = 0.001); 1 - b1^2 = 0.19, 1 - b2^2 = 0.001999
    p = param([0.0])
    trajectory = run(optim.Adam([p], lr=0.1, amsgrad=amsgrad), p, [[1.0], [0.0]])
    v = 0.001 if amsgrad else 0.000999
    step2 = 0.1 * (0.09 / 0.19) / (math.sqrt(v) / math.sqrt(0.001999) + 1e-8)
    np.testing.assert_allclose(np.concatenate(trajectory), [-0.1 / (1 + 1e-8), -0.1 / (1 + 1e-8) - step2],
                               rtol=1e-12)
    assert step2 == pytest.approx(0.0669723 if amsgrad else 0.0670058, abs=1e-7)


@settings(deadline=None)
@given(lr=st.floats(1e-4, 1.0), b1=st.floats(0.0, 0.999), b2=st.floats(0.0, 0.9999),
       eps=st.floats(1e-12, 1e-3), g=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=6))
def test_adam_first_step_is_at_most_lr(lr, b1, b2, eps, g):
    """Whatever the hyperparameters, Adam's first step is lr * g / (|g| + eps): never longer than lr."""
    p = param(np.zeros(len(g)))
    run(optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps), p, [g])
    assert np.all(np.abs(p.data) <= lr * (1 + 1e-12))
    g = np.array(g)
    np.testing.assert_allclose(p.data, -lr * g / (np.abs(g) + eps), rtol=1e-9, atol=1e-300)


# --------------------------------------------------------- behaviour of every optimizer
OPTIMIZERS = [
    lambda ps: optim.SGD(ps, lr=0.1),
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True, weight_decay=0.01),
    lambda ps: optim.AdamW(ps, lr=0.1),
]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_updates_in_place_and_keeps_float32(make):
    p = param([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    array = p.data
    opt = make([p])
    run(opt, p, [[[0.1, -0.2], [0.3, 0.0]]] * 3)
    assert p.data is array and p.data.dtype == np.float32
    assert not np.allclose(p.data, [[1.0, 2.0], [3.0, 4.0]])
    assert all(v.dtype == np.float32 for s in opt.state.values() for v in s.values() if isinstance(v, np.ndarray))


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_parameters_without_grad_are_skipped(make):
    a, b = param([1.0, 2.0]), param([3.0])
    opt = make([a, b])
    set_grad(a, [1.0, 1.0])
    opt.step()
    assert b.data.tolist() == [3.0] and b not in opt.state
    assert a.data.tolist() != [1.0, 2.0]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_optimizer_leaves_grad_untouched(make):
    p = param([1.0, -1.0])
    opt = make([p])
    set_grad(p, [0.5, 0.25])
    opt.step()
    assert p.grad.data.tolist() == [0.5, 0.25]


def test_module_parameters_see_the_update():
    layer = Linear(3, 2, dtype=np.float64)
    before = layer.weight.data.copy()
    opt = optim.SGD(layer.parameters(), lr=0.5)
    layer(mc.tensor(np.ones((4, 3)))).sum().backward()
    opt.step()
    np.testing.assert_allclose(layer.weight.data, before - 0.5 * 4.0, rtol=1e-14)   # d sum / dW = 4 per entry


def test_step_with_closure_returns_the_loss():
    p = param([3.0])
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 9.0 and p.data.tolist() == [1.5]    # 3 - 0.25 * 6


def test_zero_grad():
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1)
    set_grad(p, [2.0])
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and p.grad.data.tolist() == [0.0]
    opt.zero_grad()
    assert p.grad is None


# ----------------------------------------------------------------------- groups
def test_param_groups_take_their_own_options_and_the_defaults():
    a, b = param([1.0]), param([1.0])
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 1.0}], lr=0.1, momentum=0.5)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    assert [g["momentum"] for g in opt.param_groups] == [0.5, 0.5]
    assert len(opt.param_groups[1]["params"]) == 1 and opt.param_groups[1]["params"][0] is b   # a lone Tensor
    set_grad(a, [1.0])
    set_grad(b, [1.0])
    opt.step()
    assert a.data.tolist() == [0.9] and b.data.tolist() == [0.0]


def test_add_param_group():
    a, b = param([1.0]), param([1.0])
    opt = optim.Adam([a], lr=0.1)
    opt.add_param_group({"params": [b], "betas": (0.5, 0.9)})
    assert len(opt.param_groups) == 2
    assert opt.param_groups[1]["lr"] == 0.1 and opt.param_groups[1]["betas"] == (0.5, 0.9)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.add_param_group({"params": [param([0.0])], "lr": -1.0})


@pytest.mark.parametrize("make, error, match", [
    (lambda p: optim.SGD(p, lr=-0.1), ValueError, "Invalid learning rate: -0.1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), ValueError, "Invalid momentum value: -0.5"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1), ValueError, "Invalid weight_decay value: -1"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), ValueError, "Nesterov momentum requires a momentum"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError,
     "zero dampening"),
    (lambda p: optim.Adam(p, lr=-1e-3), ValueError, "Invalid learning rate"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), ValueError, "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), ValueError, "Invalid beta parameter at index 1: -0.1"),
    (lambda p: optim.Adam(p, eps=-1e-8), ValueError, "Invalid epsilon value"),
    (lambda p: optim.AdamW(p, weight_decay=-0.1), ValueError, "Invalid weight_decay value"),
    (lambda p: optim.SGD([], lr=0.1), ValueError, "optimizer got an empty parameter list"),
    (lambda p: optim.Adam(p[0]), TypeError, "iterable of Tensors or dicts"),
    (lambda p: optim.Adam([p[0].data]), TypeError, "can only optimize Tensors"),
    (lambda p: optim.Adam({p[0]}), TypeError, "ordered collections"),
    (lambda p: optim.SGD(Linear(2, 2), lr=0.1), TypeError, r"model\.parameters\(\)"),
    (lambda p: optim.SGD([p[0] * 2], lr=0.1), ValueError, "non-leaf"),
])
def test_invalid_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make([param([1.0])])


# ------------------------------------------------------------------- state dict
def test_state_dict_layout_and_copies():
    a, b, c = param([1.0, 2.0]), param([3.0]), param([4.0])
    opt = optim.SGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, momentum=0.9)
    for p in (a, b, c):
        set_grad(p, np.ones(p.shape))
    opt.step()
    sd = opt.state_dict()
    assert sorted(sd) == ["param_groups", "state"]
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["momentum"] == 0.9
    assert sorted(sd["state"]) == [0, 1, 2]
    buf = sd["state"][0]["momentum_buffer"]
    assert type(buf) is np.ndarray and buf.tolist() == [1.0, 1.0]
    opt.step()
    assert buf.tolist() == [1.0, 1.0]       # a saved dict does not follow later steps
    sd["param_groups"][0]["lr"] = 123.0
    assert opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_state_dict_round_trip_continues_identically(make):
    rng = np.random.default_rng(1)
    grads = rng.standard_normal((8, 2, 3))
    p = param(rng.standard_normal((2, 3)))
    opt = make([p])
    run(opt, p, grads[:4])
    q = param(p.data.copy())
    resumed = make([q])
    resumed.param_groups[0]["lr"] = 7.0                    # overwritten by the load
    resumed.load_state_dict(opt.state_dict())
    assert resumed.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert resumed.param_groups[0]["params"][0] is q
    np.testing.assert_array_equal(run(opt, p, grads[4:]), run(resumed, q, grads[4:]))


def test_load_state_dict_casts_to_the_parameter_dtype():
    p64, p32 = param([1.0, 2.0]), param([1.0, 2.0], dtype=np.float32)
    opt = optim.Adam([p64])
    run(opt, p64, [[1.0, 1.0]] * 2)
    other = optim.Adam([p32])
    other.load_state_dict(opt.state_dict())
    state = other.state[p32]
    assert state["step"] == 2 and state["exp_avg"].dtype == np.float32


def test_load_state_dict_rejects_other_shapes():
    a, b = param([1.0]), param([2.0])
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="state for parameter 5"):
        optim.SGD([a, b], lr=0.1).load_state_dict({"state": {5: {"momentum_buffer": np.ones(1)}},
                                                   "param_groups": sd["param_groups"]})


def test_load_state_dict_accepts_string_indices():
    """Indices may come back as strings from a file format with text keys (e.g. JSON or npz names)."""
    p = param([1.0])
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    run(opt, p, [[1.0]])
    sd = opt.state_dict()
    sd["state"] = {str(i): s for i, s in sd["state"].items()}
    other = optim.SGD([param([1.0])], lr=0.1, momentum=0.9)
    other.load_state_dict(sd)
    assert list(other.state.values())[0]["momentum_buffer"].tolist() == [1.0]


def test_repr_lists_groups():
    text = repr(optim.SGD([param([1.0])], lr=0.1, momentum=0.9))
    assert text.startswith("SGD (") and "Parameter Group 0" in text and "momentum: 0.9" in text


# -------------------------------------------------------------------- schedulers
def lrs_over(make_scheduler, epochs, lrs=(1.0,)):
    opt = optim.SGD([{"params": [param([0.0])], "lr": lr} for lr in lrs], lr=lrs[0])
    scheduler = make_scheduler(opt)
    seen = [scheduler.get_last_lr()]
    for _ in range(epochs):
        opt.step()
        scheduler.step()
        seen.append(scheduler.get_last_lr())
        assert seen[-1] == [g["lr"] for g in opt.param_groups]
    return np.array(seen)


def test_step_lr():
    np.testing.assert_allclose(lrs_over(lambda o: StepLR(o, step_size=2, gamma=0.5), 5)[:, 0],
                               [1, 1, 0.5, 0.5, 0.25, 0.25])


def test_multistep_lr_counts_repeated_milestones():
    np.testing.assert_allclose(lrs_over(lambda o: MultiStepLR(o, [2, 4, 4], gamma=0.5), 5)[:, 0],
                               [1, 1, 0.5, 0.5, 0.125, 0.125])


def test_exponential_lr_per_group():
    np.testing.assert_allclose(lrs_over(lambda o: ExponentialLR(o, gamma=0.5), 3, lrs=(1.0, 0.2)),
                               [[1, 0.2], [0.5, 0.1], [0.25, 0.05], [0.125, 0.025]])


def test_cosine_annealing_matches_closed_form_over_three_periods():
    T, eta_min = 4, 0.1
    lrs = lrs_over(lambda o: CosineAnnealingLR(o, T_max=T, eta_min=eta_min), 3 * T)[:, 0]
    np.testing.assert_allclose(lrs[[0, 2, 4, 6, 8, 12]], [1.0, 0.55, 0.1, 0.55, 1.0, 0.1], rtol=1e-12)
    t = np.arange(3 * T + 1)
    np.testing.assert_allclose(lrs, eta_min + (1 - eta_min) * (1 + np.cos(np.pi * t / T)) / 2, rtol=1e-12)


def test_scheduler_records_initial_lr():
    opt = optim.SGD([param([0.0])], lr=0.3)
    scheduler = StepLR(opt, step_size=1)
    assert opt.param_groups[0]["initial_lr"] == 0.3 and scheduler.base_lrs == [0.3]
    with pytest.raises(KeyError, match="initial_lr"):
        StepLR(optim.SGD([param([0.0])], lr=0.3), step_size=1, last_epoch=3)


def test_scheduler_state_dict_resumes():
    def make():
        opt = optim.SGD([param([0.0])], lr=1.0)
        return opt, CosineAnnealingLR(opt, T_max=5, eta_min=0.01)

    opt, scheduler = make()
    for _ in range(3):
        opt.step()
        scheduler.step()
    sd, opt_sd = scheduler.state_dict(), opt.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 3
    opt2, scheduler2 = make()
    scheduler2.load_state_dict(sd)
    opt2.load_state_dict(opt_sd)
    for _ in range(4):
        opt.step()
        scheduler.step()
        opt2.step()
        scheduler2.step()
        assert scheduler2.get_last_lr() == scheduler.get_last_lr()


def test_scheduler_before_optimizer_warns():
    opt = optim.SGD([param([0.0])], lr=1.0)
    scheduler = StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        scheduler.step()
    opt = optim.SGD([param([0.0])], lr=1.0)
    scheduler = StepLR(opt, step_size=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        scheduler.step()
