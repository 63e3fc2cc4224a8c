"""minicnn.optim against torch.optim: same gradients in, same trajectories out (float64)."""
import itertools

import numpy as np
import pytest

import minicnn as mc
import minicnn.nn as nn
from minicnn import optim
from minicnn.optim import lr_scheduler

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

STEPS = 25
SHAPES = [(3, 4), (5,)]


class Problem:
    """Two parameters in two groups on the loss sum(0.5 * A * p^2) + <noise_t, p>.

    The gradient A * p + noise_t depends on where each framework's parameters
    are, so a difference in any step grows instead of washing out.
    """

    def __init__(self, seed=0, steps=STEPS):
        rng = np.random.default_rng(seed)
        self.start = [rng.standard_normal(s) for s in SHAPES]
        self.curvature = [rng.uniform(0.5, 2.0, s) for s in SHAPES]
        self.noise = [rng.standard_normal((steps,) + s) for s in SHAPES]

    def gradient(self, i, t, value):
        return self.curvature[i] * value + self.noise[i][t]


class Side:
    """One framework's parameters, optimizer and (optionally) scheduler."""

    def __init__(self, framework, problem, make_optimizer, group_options, make_scheduler=None):
        self.framework = framework
        if framework == "minicnn":
            self.params = [nn.Parameter(v.copy()) for v in problem.start]
            module = optim
        else:
            self.params = [torch.tensor(v.copy(), requires_grad=True) for v in problem.start]
            module = torch.optim
        groups = [dict(params=[p], **o) for p, o in zip(self.params, group_options)]
        self.optimizer = make_optimizer(module, groups)
        schedulers = lr_scheduler if framework == "minicnn" else torch.optim.lr_scheduler
        self.scheduler = make_scheduler(schedulers, self.optimizer) if make_scheduler else None

    def values(self):
        if self.framework == "minicnn":
            return [p.data.copy() for p in self.params]
        return [p.detach().numpy().copy() for p in self.params]

    def step(self, problem, t):
        for i, (p, v) in enumerate(zip(self.params, self.values())):
            g = problem.gradient(i, t, v)
            p.grad = mc.Tensor(g) if self.framework == "minicnn" else torch.from_numpy(g)
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()


def assert_same(ours, theirs, what):
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12, err_msg=what)


def compare(make_optimizer, group_options=({}, {}), make_scheduler=None, steps=STEPS, seed=0):
    problem = Problem(seed, steps)
    ours = Side("minicnn", problem, make_optimizer, group_options, make_scheduler)
    theirs = Side("torch", problem, make_optimizer, group_options, make_scheduler)
    moved = False
    for t in range(steps):
        ours.step(problem, t)
        theirs.step(problem, t)
        assert_same(ours.values(), theirs.values(), f"step {t + 1}")
        moved = moved or not np.allclose(ours.values()[0], problem.start[0])
        if ours.scheduler:
            np.testing.assert_allclose(ours.scheduler.get_last_lr(), theirs.scheduler.get_last_lr(), rtol=1e-12)
    assert moved
    return ours, theirs


# ------------------------------------------------------------------ trajectories
SGD_OPTIONS = [dict(momentum=m, dampening=d, nesterov=n, weight_decay=w, maximize=x)
               for m, d, n, w, x in itertools.product([0, 0.9], [0, 0.3], [False, True], [0, 0.05], [False, True])]


@pytest.mark.parametrize("options", SGD_OPTIONS, ids=str)
def test_sgd_trajectory(options):
    def make(module, groups):
        return module.SGD(groups, lr=0.05, **options)

    if options["nesterov"] and (options["momentum"] == 0 or options["dampening"] != 0):
        with pytest.raises(ValueError):
            compare(make)
        with pytest.raises(ValueError):
            torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05, **options)
        return
    compare(make, group_options=({}, {"lr": 0.02, "momentum": 0.5 * options["momentum"]}))


ADAM_OPTIONS = [dict(weight_decay=w, amsgrad=a, betas=b, maximize=x)
                for w, a, b, x in itertools.product([0, 0.1], [False, True], [(0.9, 0.999), (0.6, 0.8)],
                                                    [False, True])]


@pytest.mark.parametrize("options", ADAM_OPTIONS, ids=str)
def test_adam_trajectory(options):
    compare(lambda module, groups: module.Adam(groups, lr=0.05, eps=1e-6, **options),
            group_options=({}, {"lr": 0.01, "betas": (0.5, 0.7)}))


@pytest.mark.parametrize("weight_decay, amsgrad", [(1e-2, False), (0.3, False), (0.3, True), (0.0, True)])
def test_adamw_trajectory(weight_decay, amsgrad):
    compare(lambda module, groups: module.AdamW(groups, lr=0.05, weight_decay=weight_decay, amsgrad=amsgrad),
            group_options=({}, {"weight_decay": 0.0}))


def test_defaults_match_torch():
    p = [torch.zeros(1, requires_grad=True)]
    q = [nn.Parameter(np.zeros(1))]
    for name in ("SGD", "Adam", "AdamW"):
        ours, theirs = getattr(optim, name)(q).param_groups[0], getattr(torch.optim, name)(p).param_groups[0]
        for key, value in ours.items():
            if key != "params":
                assert theirs[key] == value, (name, key)


# -------------------------------------------------------------------- schedulers
SCHEDULERS = [
    lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 11], gamma=0.3),
    lambda m, o: m.ExponentialLR(o, gamma=0.9),
    lambda m, o: m.CosineAnnealingLR(o, T_max=7),
    lambda m, o: m.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
    lambda m, o: m.CosineAnnealingLR(o, T_max=1, eta_min=0.001),
]


@pytest.mark.parametrize("make_scheduler", SCHEDULERS)
def test_scheduler_lrs_and_trajectory(make_scheduler):
    """40 epochs (several cosine periods), two groups with different lrs, driving SGD with momentum."""
    compare(lambda module, groups: module.SGD(groups, lr=0.05, momentum=0.9),
            group_options=({}, {"lr": 0.2}), make_scheduler=make_scheduler, steps=40)


def test_scheduler_drives_adam():
    compare(lambda module, groups: module.Adam(groups, lr=0.05),
            make_scheduler=lambda m, o: m.CosineAnnealingLR(o, T_max=6, eta_min=1e-3))


# ---------------------------------------------------------------- state dicts
OPTIMIZERS = [
    lambda module, groups: module.SGD(groups, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda module, groups: module.SGD(groups, lr=0.05, momentum=0.8, dampening=0.2),
    lambda module, groups: module.Adam(groups, lr=0.05, amsgrad=True, weight_decay=0.01),
    lambda module, groups: module.AdamW(groups, lr=0.05),
]


def to_torch(state_dict):
    """minicnn's state dict (NumPy arrays, int steps) as torch expects it."""
    state = {i: {k: torch.tensor(float(v)) if k == "step" else torch.from_numpy(v.copy()) for k, v in s.items()}
             for i, s in state_dict["state"].items()}
    return {"state": state, "param_groups": state_dict["param_groups"]}


def to_numpy(state_dict):
    state = {i: {k: v.numpy().copy() for k, v in s.items()} for i, s in state_dict["state"].items()}
    return {"state": state, "param_groups": state_dict["param_groups"]}


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_state_dict_round_trip_continues_the_trajectory(make):
    """Ten steps, save, rebuild from the saved weights and optimizer state, ten more steps:
    the same numbers as twenty uninterrupted torch steps; and the state dicts cross over both ways."""
    problem = Problem(steps=20)
    ours = Side("minicnn", problem, make, ({}, {"lr": 0.02}))
    theirs = Side("torch", problem, make, ({}, {"lr": 0.02}))
    for t in range(10):
        ours.step(problem, t)
        theirs.step(problem, t)

    saved, saved_weights = ours.optimizer.state_dict(), ours.values()
    assert sorted(saved["state"]) == [0, 1]
    assert all(isinstance(v, (np.ndarray, int)) for s in saved["state"].values() for v in s.values())
    torch_groups = theirs.optimizer.state_dict()["param_groups"]
    assert [g["params"] for g in saved["param_groups"]] == [g["params"] for g in torch_groups]

    resumed = Side("minicnn", problem, make, ({}, {}))
    for p, v in zip(resumed.params, saved_weights):
        p.data[...] = v
    resumed.optimizer.load_state_dict(saved)

    from_torch = Side("minicnn", problem, make, ({}, {}))           # torch's state loaded into minicnn
    for p, v in zip(from_torch.params, theirs.values()):
        p.data[...] = v
    from_torch.optimizer.load_state_dict(to_numpy(theirs.optimizer.state_dict()))

    into_torch = Side("torch", problem, make, ({}, {}))             # minicnn's state loaded into torch
    with torch.no_grad():
        for p, v in zip(into_torch.params, saved_weights):
            p.copy_(torch.from_numpy(v))
    into_torch.optimizer.load_state_dict(to_torch(saved))

    for t in range(10, 20):
        for side in (ours, theirs, resumed, from_torch, into_torch):
            side.step(problem, t)
        np.testing.assert_array_equal(np.concatenate([v.ravel() for v in resumed.values()]),
                                      np.concatenate([v.ravel() for v in ours.values()]))
        for side in (resumed, from_torch, into_torch):
            assert_same(side.values(), theirs.values(), f"step {t + 1}")


def test_scheduler_state_dict_round_trip():
    def build():
        p = nn.Parameter(np.zeros(1))
        o = optim.SGD([p], lr=1.0)
        return o, lr_scheduler.CosineAnnealingLR(o, T_max=4, eta_min=0.1)

    tp = torch.zeros(1, requires_grad=True)
    to = torch.optim.SGD([tp], lr=1.0)
    ts = torch.optim.lr_scheduler.CosineAnnealingLR(to, T_max=4, eta_min=0.1)
    o, s = build()
    for _ in range(6):
        o.step()
        s.step()
        to.step()
        ts.step()
    o2, s2 = build()
    o2.load_state_dict(o.state_dict())
    s2.load_state_dict(s.state_dict())
    for _ in range(10):
        o2.step()
        s2.step()
        to.step()
        ts.step()
        np.testing.assert_allclose(s2.get_last_lr(), ts.get_last_lr(), rtol=1e-12)


# ------------------------------------------------------------------ a tiny model
def twin_models(dtype):
    ours = nn.Sequential(nn.Linear(6, 5, dtype=dtype), nn.ReLU(), nn.Linear(5, 3, dtype=dtype))
    theirs = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)).to(
        torch.float64 if dtype == np.float64 else torch.float32)
    theirs.load_state_dict({k: torch.from_numpy(v.data.copy()) for k, v in ours.state_dict().items()})
    return ours, theirs


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-9), (np.float32, 1e-4)])
@pytest.mark.parametrize("make", [
    lambda module, params: module.SGD(params, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda module, params: module.Adam(params, lr=0.01, amsgrad=True),
    lambda module, params: module.AdamW(params, lr=0.01, weight_decay=0.1),
])
def test_tiny_model_trains_to_the_same_weights(make, dtype, rtol):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 6)).astype(dtype)
    y = rng.integers(0, 3, 8)
    ours, theirs = twin_models(dtype)
    opt, topt = make(optim, ours.parameters()), make(torch.optim, theirs.parameters())
    loss_fn, tloss_fn = nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss()
    start = {k: v.data.copy() for k, v in ours.state_dict().items()}
    for _ in range(6):
        opt.zero_grad()
        topt.zero_grad()
        loss = loss_fn(ours(mc.tensor(x)), mc.tensor(y))
        tloss = tloss_fn(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=rtol)
    theirs_state = theirs.state_dict()
    for key, value in ours.state_dict().items():
        assert value.dtype == dtype
        assert not np.allclose(value.data, start[key])
        np.testing.assert_allclose(value.data, theirs_state[key].numpy(), rtol=rtol, atol=rtol * 1e-2, err_msg=key)
