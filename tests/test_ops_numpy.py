"""Forward values of the elementary ops against plain NumPy, over hypothesis-drawn inputs.

Also: float32 inputs give float32 outputs (training never drifts into float64),
and float64 inputs stay float64.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from strategies import (arrays_of, broadcastable_shapes, cat_arrays, distinct_arrays, float32_arrays,
                        matmul_shapes, shapes, stack_arrays)

DTYPES = [np.float32, np.float64]


def close(t, expected, dtype):
    assert isinstance(t, mc.Tensor)
    assert t.dtype == dtype, f"dtype {t.dtype}, expected {np.dtype(dtype)}"
    expected = np.asarray(expected)
    assert t.shape == expected.shape
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(t.numpy(), expected, rtol=tol, atol=tol)


BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(BINARY))
@given(data=st.data())
def test_binary_broadcasting(name, dtype, data):
    shape_a, shape_b = data.draw(broadcastable_shapes())
    a = data.draw(arrays_of(dtype, shape_a, -10, 10))
    b = data.draw(arrays_of(dtype, shape_b, -10, 10, margin=0.1 if name == "div" else 0.0))
    ours, ref = BINARY[name]
    close(ours(mc.tensor(a), mc.tensor(b)), ref(a, b), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data(), scalar=st.floats(-3, 3).filter(lambda s: abs(s) > 0.1))
def test_python_scalars_keep_the_tensor_dtype(dtype, data, scalar):
    a = data.draw(arrays_of(dtype, shapes(), margin=0.1))
    x = mc.tensor(a)
    s = dtype(scalar)
    for ours, ref in [(x + scalar, a + s), (scalar + x, s + a), (x - scalar, a - s), (scalar - x, s - a),
                      (x * scalar, a * s), (scalar * x, s * a), (x / scalar, a / s), (scalar / x, s / a),
                      (-x, -a), (x ** 2, a ** 2)]:
        close(ours, ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_matmul(dtype, data):
    shape_a, shape_b = data.draw(matmul_shapes())
    a, b = data.draw(arrays_of(dtype, shape_a)), data.draw(arrays_of(dtype, shape_b))
    close(mc.tensor(a) @ mc.tensor(b), a @ b, dtype)


UNARY = {
    "exp": (lambda x: x.exp(), np.exp, -5, 5),
    "log": (lambda x: x.log(), np.log, 0.01, 100),
    "sqrt": (lambda x: x.sqrt(), np.sqrt, 0, 100),
    "abs": (lambda x: x.abs(), np.abs, -5, 5),
    "neg": (lambda x: -x, np.negative, -5, 5),
    "clamp": (lambda x: x.clamp(-1, 2), lambda a: np.clip(a, -1, 2), -5, 5),
    "relu": (F.relu, lambda a: np.maximum(a, 0), -5, 5),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda a: np.where(a > 0, a, a * a.dtype.type(0.1)), -5, 5),
    "tanh": (F.tanh, np.tanh, -5, 5),
    "sigmoid": (F.sigmoid, lambda a: 1 / (1 + np.exp(-a)), -30, 30),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data())
def test_unary(name, dtype, data):
    ours, ref, lo, hi = UNARY[name]
    a = data.draw(arrays_of(dtype, shapes(), lo, hi))
    close(ours(mc.tensor(a)), ref(a), dtype)


@st.composite
def array_and_dim(draw, dtype):
    a = draw(arrays_of(dtype, shapes(min_dims=1), -10, 10))
    dims = draw(st.lists(st.integers(-a.ndim, a.ndim - 1), min_size=1, max_size=a.ndim,
                         unique_by=lambda d: d % a.ndim))
    return a, dims[0] if len(dims) == 1 else tuple(dims)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sum", "mean"])
@given(data=st.data(), keepdim=st.booleans())
def test_sum_mean(name, dtype, data, keepdim):
    a, dim = data.draw(array_and_dim(dtype))
    x = mc.tensor(a)
    close(getattr(x, name)(dim=dim, keepdim=keepdim), getattr(np, name)(a, axis=dim, keepdims=keepdim), dtype)
    close(getattr(x, name)(), getattr(np, name)(a), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data(), keepdim=st.booleans())
def test_max_values_and_indices(dtype, data, keepdim):
    a = data.draw(arrays_of(dtype, shapes(min_dims=1), -10, 10))
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    x = mc.tensor(a)
    close(x.max(), a.max(), dtype)
    values, indices = x.max(dim=dim, keepdim=keepdim)
    close(values, np.max(a, axis=dim, keepdims=keepdim), dtype)
    np.testing.assert_array_equal(indices.numpy(), np.argmax(a, axis=dim, keepdims=keepdim))
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(x.argmax(dim=dim).numpy(), np.argmax(a, axis=dim))


@given(a=distinct_arrays(shapes(min_dims=1)))
def test_var_matches_numpy(a):
    x = mc.tensor(a)
    if a.shape[0] > 1:
        close(x.var(dim=0), np.var(a, axis=0, ddof=1), np.float64)
    close(x.var(dim=0, unbiased=False), np.var(a, axis=0), np.float64)


@given(a=float32_arrays(shapes(min_dims=1, max_dims=4)), data=st.data())
def test_shape_ops(a, data):
    x = mc.tensor(a)
    close(x.reshape(-1), a.reshape(-1), np.float32)
    close(x.view(a.shape[0], -1), a.reshape(a.shape[0], -1), np.float32)
    close(x.flatten(), a.reshape(-1), np.float32)
    close(x.flatten(1) if a.ndim > 1 else x.flatten(), a.reshape(a.shape[0], -1) if a.ndim > 1 else a, np.float32)
    perm = data.draw(st.permutations(range(a.ndim)))
    close(x.permute(*perm), a.transpose(perm), np.float32)
    close(x.permute(perm), a.transpose(perm), np.float32)
    d0, d1 = data.draw(st.integers(-a.ndim, a.ndim - 1)), data.draw(st.integers(-a.ndim, a.ndim - 1))
    close(x.transpose(d0, d1), np.swapaxes(a, d0, d1), np.float32)
    dim = data.draw(st.integers(-a.ndim - 1, a.ndim))
    close(x.unsqueeze(dim), np.expand_dims(a, dim), np.float32)
    close(x.squeeze(), np.squeeze(a), np.float32)


@given(a=float32_arrays(shapes(min_dims=1, min_side=2)), data=st.data())
def test_indexing(a, data):
    x = mc.tensor(a)
    n = a.shape[0]
    i = data.draw(st.integers(-n, n - 1))
    idx = np.array(data.draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=5)))
    for index in [i, slice(1, None), slice(None, None, 2), idx, (Ellipsis, 0), (slice(None), None)]:
        close(x[index], a[index], np.float32)
    close(x[mc.tensor(idx)], a[idx], np.float32)   # an integer Tensor works as an index
    close(x[list(idx)], a[list(idx)], np.float32)


@given(case=cat_arrays(np.float32, max_pieces=4))
def test_cat(case):
    pieces, dim = case
    close(mc.cat([mc.tensor(p) for p in pieces], dim=dim), np.concatenate(pieces, axis=dim), np.float32)


@given(case=stack_arrays(np.float32, max_pieces=4))
def test_stack(case):
    pieces, dim = case
    close(mc.stack([mc.tensor(p) for p in pieces], dim=dim), np.stack(pieces, axis=dim), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_softmax_and_log_softmax(dtype, data):
    a = data.draw(arrays_of(dtype, shapes(min_dims=1), -20, 20))
    dim = data.draw(st.integers(-a.ndim, a.ndim - 1))
    e = np.exp(a.astype(np.float64) - a.max(axis=dim, keepdims=True))
    ref = e / e.sum(axis=dim, keepdims=True)
    close(F.softmax(mc.tensor(a), dim=dim), ref.astype(dtype), dtype)
    close(F.log_softmax(mc.tensor(a), dim=dim), np.log(ref).astype(dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data(), bias=st.booleans())
def test_linear(dtype, data, bias):
    lead = data.draw(shapes(max_dims=2))
    n_in, n_out = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    x = data.draw(arrays_of(dtype, lead + (n_in,)))
    w = data.draw(arrays_of(dtype, (n_out, n_in)))
    b = data.draw(arrays_of(dtype, (n_out,))) if bias else None
    ref = x @ w.T + (b if bias else 0)
    close(F.linear(mc.tensor(x), mc.tensor(w), mc.tensor(b) if bias else None), ref, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gradients_keep_the_input_dtype(dtype):
    x = mc.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True, dtype=dtype)
    w = mc.tensor(np.ones((2, 4)), requires_grad=True, dtype=dtype)
    y = F.cross_entropy(F.linear(F.relu(x) * 2 + 1, w).exp().log(), [0, 1, 1]) + (x ** 2).mean() / 3
    assert y.dtype == dtype
    y.backward()
    assert x.grad.dtype == dtype and w.grad.dtype == dtype
