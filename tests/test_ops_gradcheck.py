"""Finite-difference gradient checks (float64) of every elementary op, activation, loss and linear.

Shapes come from hypothesis, broadcasting cases included, so the engine's
summing of gradients over broadcast axes is checked along with each backward.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from strategies import (broadcastable_shapes, cat_arrays, class_targets, distinct_arrays, float64_arrays,
                        matmul_shapes, shapes, stack_arrays)


def leaf(array):
    return mc.Tensor(np.array(array, dtype=np.float64), requires_grad=True)


def check(fn, *arrays):
    assert mc.gradcheck(fn, [leaf(a) for a in arrays])


# ---------------------------------------------------------------- binary, broadcasting
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_broadcasting(name, data):
    shape_a, shape_b = data.draw(broadcastable_shapes())
    positive = name == "pow"          # a ** b is differentiable in b only for a > 0
    a = data.draw(float64_arrays(shape_a, 0.5 if positive else -2.0, 2.0))
    b = data.draw(float64_arrays(shape_b, -2.0, 2.0, margin=0.5 if name == "div" else 0.0))
    check(BINARY[name], a, b)


@given(data=st.data())
def test_scalar_operands_on_either_side(data):
    a = data.draw(float64_arrays(shapes(), margin=0.5))
    check(lambda x: (2.0 - x) * 3.0 + 1.5 / x - x / 4.0 + (x + 1) * 0.5, a)


@pytest.mark.parametrize("p", [2, 3, 0.5, -1.0, 1.7])
@given(data=st.data())
def test_pow_constant_exponent(p, data):
    a = data.draw(float64_arrays(shapes(), 0.3, 2.0))
    check(lambda x: x ** p, a)


@given(data=st.data())
def test_rpow(data):
    a = data.draw(float64_arrays(shapes()))
    check(lambda x: 2.0 ** x, a)


@given(data=st.data())
def test_same_tensor_on_both_sides(data):
    a = data.draw(float64_arrays(shapes(), margin=0.3))
    check(lambda x: x * x + x / x - x - x, a)


# -------------------------------------------------------------------------- matmul
@given(data=st.data())
def test_matmul(data):
    shape_a, shape_b = data.draw(matmul_shapes())
    a = data.draw(float64_arrays(shape_a))
    b = data.draw(float64_arrays(shape_b))
    check(lambda x, y: x @ y, a, b)


@pytest.mark.parametrize("shape_a, shape_b", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)),
                                              ((4, 2, 3), (3,)), ((3,), (4, 3, 2)),
                                              ((2, 1, 2, 3), (4, 3, 5)), ((2, 3), (5, 3, 4))])
def test_matmul_vector_and_batch_cases(shape_a, shape_b):
    rng = np.random.default_rng(0)
    check(lambda x, y: x @ y, rng.standard_normal(shape_a), rng.standard_normal(shape_b))


# -------------------------------------------------------------------------- unary
UNARY = {
    "neg": (lambda x: -x, -2.0, 2.0, 0.0),
    "exp": (lambda x: x.exp(), -2.0, 2.0, 0.0),
    "log": (lambda x: x.log(), 0.2, 3.0, 0.0),
    "sqrt": (lambda x: x.sqrt(), 0.2, 3.0, 0.0),
    "abs": (lambda x: x.abs(), -2.0, 2.0, 0.01),
    "clamp": (lambda x: x.clamp(-0.5, 0.7), -2.0, 2.0, 0.0),
    "clone": (lambda x: x.clone(), -2.0, 2.0, 0.0),
    "to_float64": (lambda x: x.to(np.float64) * 2, -2.0, 2.0, 0.0),
    "relu": (F.relu, -2.0, 2.0, 0.01),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), -2.0, 2.0, 0.01),
    "tanh": (F.tanh, -3.0, 3.0, 0.0),
    "sigmoid": (F.sigmoid, -5.0, 5.0, 0.0),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary(name, data):
    fn, lo, hi, margin = UNARY[name]
    a = data.draw(float64_arrays(shapes(), lo, hi, margin))
    if name == "clamp":  # keep values away from the clip points, where the derivative jumps
        a = np.where(np.abs(a + 0.5) < 0.01, a + 0.05, a)
        a = np.where(np.abs(a - 0.7) < 0.01, a + 0.05, a)
    check(fn, a)


# ---------------------------------------------------------------------- reductions
@st.composite
def array_and_dims(draw, min_dims=1):
    shape = draw(shapes(min_dims=min_dims))
    dims = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape),
                         unique_by=lambda d: d % len(shape)))
    return draw(float64_arrays(shape)), dims


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("keepdim", [False, True])
@given(case=array_and_dims())
def test_sum_mean_over_dims(reduction, keepdim, case):
    a, dims = case
    dim = dims[0] if len(dims) == 1 else tuple(dims)
    check(lambda x: getattr(x, reduction)(dim=dim, keepdim=keepdim), a)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@given(data=st.data())
def test_sum_mean_all(reduction, data):
    a = data.draw(float64_arrays(shapes()))
    check(lambda x: getattr(x, reduction)(), a)


@given(data=st.data())
def test_var(data):
    a = data.draw(float64_arrays(shapes(min_dims=1, min_side=2)))
    check(lambda x: x.var(dim=0), a)


@given(data=st.data())
def test_max_all(data):
    a = data.draw(distinct_arrays(shapes()))
    check(lambda x: x.max(), a)


@given(data=st.data(), keepdim=st.booleans())
def test_max_dim(data, keepdim):
    a = data.draw(distinct_arrays(shapes(min_dims=1)))
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    check(lambda x: x.max(dim=dim, keepdim=keepdim).values, a)
    check(lambda x: x.max(dim, keepdim)[0], a)


# ---------------------------------------------------------------------- shape ops
@given(data=st.data())
def test_reshape_view_flatten(data):
    a = data.draw(float64_arrays(shapes()))
    check(lambda x: x.reshape(-1) * 2, a)
    check(lambda x: x.view(a.size, 1), a)
    check(lambda x: x.flatten(), a)


@given(data=st.data())
def test_flatten_range(data):
    a = data.draw(float64_arrays(shapes(min_dims=2, max_dims=4, max_side=3)))
    start = data.draw(st.integers(0, a.ndim - 1))
    end = data.draw(st.integers(start, a.ndim - 1))
    check(lambda x: x.flatten(start, end), a)


@given(data=st.data())
def test_permute_transpose(data):
    a = data.draw(float64_arrays(shapes(min_dims=1)))
    perm = data.draw(st.permutations(range(a.ndim)))
    d0, d1 = (data.draw(st.integers(-a.ndim, a.ndim - 1)) for _ in range(2))
    check(lambda x: x.permute(*perm), a)
    check(lambda x: x.transpose(d0, d1), a)
    check(lambda x: x.T, a)


@given(data=st.data())
def test_unsqueeze_squeeze(data):
    a = data.draw(float64_arrays(shapes()))
    dim = data.draw(st.integers(-a.ndim - 1, a.ndim))
    check(lambda x: x.unsqueeze(dim).squeeze(), a)


@st.composite
def indexable(draw):
    a = draw(float64_arrays(shapes(min_dims=1, min_side=2)))
    kind = draw(st.sampled_from(["int", "slice", "step", "int_array", "two_int_arrays", "mixed", "ellipsis"]))
    n0 = a.shape[0]
    if kind == "int":
        index = draw(st.integers(-n0, n0 - 1))
    elif kind == "slice":
        index = slice(draw(st.integers(0, n0 - 1)), None)
    elif kind == "step":
        index = slice(None, None, draw(st.integers(1, 2)))
    elif kind == "int_array":  # repeated entries: their gradients must add up
        index = np.array(draw(st.lists(st.integers(-n0, n0 - 1), min_size=1, max_size=6)))
    elif kind == "two_int_arrays" and a.ndim >= 2:
        k = draw(st.integers(1, 5))
        index = (np.array(draw(st.lists(st.integers(0, n0 - 1), min_size=k, max_size=k))),
                 np.array(draw(st.lists(st.integers(0, a.shape[1] - 1), min_size=k, max_size=k))))
    elif kind == "mixed" and a.ndim >= 2:
        index = (slice(1, None), draw(st.integers(0, a.shape[1] - 1)))
    else:
        index = (Ellipsis, 0)
    return a, index


@given(case=indexable())
def test_getitem(case):
    a, index = case
    check(lambda x: x[index], a)


@given(case=cat_arrays())
def test_cat(case):
    pieces, dim = case
    check(lambda *xs: mc.cat(list(xs), dim=dim), *pieces)


@given(case=stack_arrays())
def test_stack(case):
    pieces, dim = case
    check(lambda *xs: mc.stack(xs, dim=dim), *pieces)


# ------------------------------------------------------------------- softmax family
@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
@given(data=st.data())
def test_softmax_family(fn, data):
    a = data.draw(float64_arrays(shapes(min_dims=1), -4.0, 4.0))
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    check(lambda x: fn(x, dim=dim), a)


# ---------------------------------------------------------------------------- linear
@given(data=st.data(), bias=st.booleans())
def test_linear(data, bias):
    lead = data.draw(shapes(min_dims=0, max_dims=2))
    n_in, n_out = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    x = data.draw(float64_arrays(lead + (n_in,)))
    w = data.draw(float64_arrays((n_out, n_in)))
    if bias:
        b = data.draw(float64_arrays((n_out,)))
        check(lambda x, w, b: F.linear(x, w, b), x, w, b)
    else:
        check(lambda x, w: F.linear(x, w), x, w)


# ---------------------------------------------------------------------------- losses
@st.composite
def logits_and_targets(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    return draw(float64_arrays((n, c), -3.0, 3.0)), draw(class_targets(n, c))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=logits_and_targets(), smoothing=st.sampled_from([0.0, 0.1, 0.5]))
def test_cross_entropy(reduction, case, smoothing):
    logits, target = case
    check(lambda x: F.cross_entropy(x, target, reduction=reduction, label_smoothing=smoothing), logits)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=logits_and_targets())
def test_nll_loss_of_log_softmax(reduction, case):
    logits, target = case
    check(lambda x: F.nll_loss(F.log_softmax(x, dim=1), target, reduction=reduction), logits)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(data=st.data())
def test_mse_loss(reduction, data):
    shape = data.draw(shapes())
    a, b = data.draw(float64_arrays(shape)), data.draw(float64_arrays(shape))
    check(lambda x, y: F.mse_loss(x, y, reduction=reduction), a, b)


# --------------------------------------------------------------- a composite network
def test_two_layer_network_end_to_end():
    rng = np.random.default_rng(1)
    x, w1, b1, w2, b2 = (rng.standard_normal(s) for s in [(5, 4), (6, 4), (6,), (3, 6), (3,)])
    target = np.array([0, 2, 1, 1, 0])

    def net(x, w1, b1, w2, b2):
        h = F.tanh(F.linear(x, w1, b1))
        return F.cross_entropy(F.linear(h, w2, b2), target, label_smoothing=0.1)

    check(net, x, w1, b1, w2, b2)
