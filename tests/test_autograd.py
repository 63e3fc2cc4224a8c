"""The engine: user-defined Functions, graph order, deep graphs, freeing, retain_graph, broadcasting."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minicnn as mc
import minicnn.functional as F
from minicnn.autograd import Function, Tensor


class Cube(Function):
    """A user-defined op written the documented way."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return scale * x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3 * ctx.scale * x ** 2, None


def test_user_defined_function():
    x = mc.tensor([1.0, -2.0, 0.5], requires_grad=True, dtype=np.float64)
    y = Cube.apply(x, 2.0)
    assert isinstance(y, Tensor) and y.grad_fn is not None
    np.testing.assert_allclose(y.numpy(), 2 * x.numpy() ** 3)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy() ** 2)
    assert mc.gradcheck(lambda t: Cube.apply(t, 0.7), [x])


def test_forward_sees_arrays_and_non_tensor_arguments_as_given():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, a, b, c, k, name=None):
            seen.update(a=type(a), b=b, c=type(c), k=k, name=name, needs=ctx.needs_input_grad)
            return a * k

        @staticmethod
        def backward(ctx, g):
            seen["backward_arg"] = type(g)
            return g * 2, None, None, None

    x = mc.tensor([1.0, 2.0], requires_grad=True)
    Probe.apply(x, None, mc.tensor([3.0]), 2, name="n").sum().backward()
    assert seen["a"] is np.ndarray and seen["b"] is None and seen["c"] is np.ndarray
    assert seen["k"] == 2 and seen["name"] == "n"
    assert seen["needs"] == (True, False, False, False)
    assert seen["backward_arg"] is np.ndarray
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2])


def test_function_with_two_outputs():
    class SplitScale(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2, a * 3

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * 2 + g2 * 3

    x = mc.tensor([1.0, 2.0], requires_grad=True)
    u, v = SplitScale.apply(x)
    (u + v).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5, 5])
    x.grad = None
    u, v = SplitScale.apply(x)
    v.sum().backward()              # the unused output gets a zero gradient
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])


def test_function_may_return_a_numpy_scalar_or_python_float():
    class Total(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.shape = a.shape
            return float(a.sum())

        @staticmethod
        def backward(ctx, g):
            return np.full(ctx.shape, g)

    x = mc.tensor([1.0, 2.0], requires_grad=True)
    y = Total.apply(x)
    assert y.shape == () and y.item() == 3.0
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 1])


def test_no_graph_when_no_input_requires_grad():
    y = Cube.apply(mc.tensor([1.0]), 1.0)
    assert not y.requires_grad and y.grad_fn is None


def test_backward_returning_too_few_gradients_is_explained():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g

    x = mc.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Bad.backward returned 1 gradients.*\(2\).*None"):
        Bad.apply(x, x).sum().backward()


def test_backward_returning_a_wrong_shape_is_explained():
    class Bad(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 1

        @staticmethod
        def backward(ctx, g):
            return np.ones((2, 2))

    x = mc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Bad.backward.*\(2, 2\).*\(3,\)"):
        Bad.apply(x).sum().backward()


# ----------------------------------------------------------------- graph order
def test_shared_subexpression_gets_all_its_gradient():
    """b feeds the root directly and through b*3: b must wait for both before passing on."""
    x = mc.tensor([1.0], requires_grad=True)
    b = x * 2
    (b + b * 3).backward()
    assert x.grad.item() == 8.0
    for build in (lambda b: b + b * 3, lambda b: b * 3 + b, lambda b: (b * 3) * b + b):
        assert mc.gradcheck(lambda t: build(t * 2), [mc.tensor([1.0], requires_grad=True, dtype=np.float64)])


def test_diamond_with_many_paths():
    x = mc.tensor([0.5, -1.0], requires_grad=True, dtype=np.float64)

    def f(t):
        a = t.exp()
        b = a * t
        c = b + a
        d = c * b - a
        return (d * c + b).sum()

    assert mc.gradcheck(f, [x])


GRAPH_OPS = {   # each maps two (2, 3) tensors to a bounded (2, 3) tensor
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul_tanh": lambda a, b: F.tanh(a * b),
    "sigmoid": lambda a, b: F.sigmoid(a) * b,
    "mean_bcast": lambda a, b: a * 0.5 + b.mean(dim=0, keepdim=True),
    "softmax": lambda a, b: F.softmax(a, dim=1) * b,
    "matmul": lambda a, b: F.tanh((a @ b.T) @ a / 3),
    "slice_cat": lambda a, b: mc.cat([a[:, :1], b[:, 1:]], dim=1),
}


@st.composite
def random_graphs(draw):
    """A random DAG: each node applies an op to two earlier values (inputs or nodes), so values are
    reused along paths of different lengths (diamonds, shared sub-expressions)."""
    n_inputs = draw(st.integers(1, 3))
    program = []
    for k in range(draw(st.integers(1, 10))):
        available = n_inputs + k
        program.append((draw(st.sampled_from(sorted(GRAPH_OPS))),
                        draw(st.integers(0, available - 1)), draw(st.integers(0, available - 1))))
    return n_inputs, program


@given(graph=random_graphs(), seed=st.integers(0, 100))
def test_random_graphs_with_shared_nodes(graph, seed):
    n_inputs, program = graph

    def run(*inputs):
        values = list(inputs)
        for op, i, j in program:
            values.append(GRAPH_OPS[op](values[i], values[j]))
        return mc.stack(values[n_inputs:])       # every node is an output, used or not

    rng = np.random.default_rng(seed)
    inputs = [mc.tensor(rng.uniform(-1, 1, (2, 3)), requires_grad=True) for _ in range(n_inputs)]
    assert mc.gradcheck(run, inputs)


def test_a_5000_deep_chain_needs_no_recursion():
    x = mc.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(5000):
        y = y * 1.0001 + 0.0
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001 ** 5000] * 2, rtol=1e-10)
    del y  # freeing a deep graph must not blow the stack either


def test_leaf_used_twice_and_reused_tensor():
    x = mc.tensor([3.0], requires_grad=True)
    (x * x + x).backward()
    assert x.grad.item() == 7.0


# ----------------------------------------------------------- freeing the graph
def test_second_backward_raises_unless_retain_graph():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time.*retain_graph=True"):
        y.backward()


def test_second_backward_raises_even_for_ops_that_save_nothing():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_doubles_the_gradient():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), [2, 4])
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4, 8])


def test_backward_frees_saved_arrays():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    y.sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        _ = y.grad_fn.ctx.saved_tensors


# ---------------------------------------------------------------- backward args
def test_non_scalar_backward_needs_a_gradient():
    y = mc.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\(2,\)"):
        y.backward()


def test_backward_with_explicit_gradient():
    x = mc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * 2).backward(mc.tensor([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2, 0, -2])
    x.grad = None
    (x * 2).backward(np.array([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2, 2])
    with pytest.raises(RuntimeError, match=r"grad has shape \(2,\), expected \(3,\)"):
        (x * 2).backward(mc.tensor([1.0, 2.0]))


def test_backward_of_something_without_grad_is_explained():
    with pytest.raises(RuntimeError, match="does not require grad"):
        mc.tensor([1.0]).sum().backward()


def test_retain_grad_on_an_intermediate():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    h.retain_grad()
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [4, 8])
    np.testing.assert_array_equal(x.grad.numpy(), [8, 16])
    m = x * 3
    (m * 1).sum().backward()
    assert m.grad is None   # intermediates keep no grad unless asked


def test_constants_get_no_gradient():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    c = mc.tensor([5.0, 6.0])
    (x * c).sum().backward()
    assert c.grad is None


# ------------------------------------------------------------------ broadcasting
@pytest.mark.parametrize("shape_a, shape_b", [((2, 3), (3,)), ((2, 3), (1, 3)), ((2, 1), (1, 3)),
                                              ((4, 1, 3), (2, 1)), ((), (2, 2)), ((1,), (3,))])
def test_gradients_are_summed_over_broadcast_axes(shape_a, shape_b):
    a = mc.tensor(np.ones(shape_a), requires_grad=True)
    b = mc.tensor(np.ones(shape_b) * 2, requires_grad=True)
    (a * b).sum().backward()
    out = np.broadcast_shapes(shape_a, shape_b)
    assert a.grad.shape == shape_a and b.grad.shape == shape_b
    np.testing.assert_allclose(a.grad.numpy(), np.full(shape_a, 2 * np.prod(out) / max(np.prod(shape_a), 1)))
    np.testing.assert_allclose(b.grad.numpy(), np.full(shape_b, np.prod(out) / max(np.prod(shape_b), 1)))


def test_user_function_gradient_is_unbroadcast_and_cast_by_the_engine():
    class AddBias(Function):
        @staticmethod
        def forward(ctx, x, b):
            return x + b

        @staticmethod
        def backward(ctx, g):
            return g, g.astype(np.float64)    # full-size gradient for b, wrong dtype

    x = mc.tensor(np.ones((4, 3)), requires_grad=True, dtype=np.float32)
    b = mc.tensor(np.zeros(3), requires_grad=True, dtype=np.float32)
    AddBias.apply(x, b).sum().backward()
    assert b.grad.shape == (3,) and b.grad.dtype == np.float32
    np.testing.assert_array_equal(b.grad.numpy(), [4, 4, 4])


def test_pow_with_an_array_exponent_differentiates_both_sides():
    x = mc.tensor([2.0, 3.0], requires_grad=True, dtype=np.float64)
    y = x ** np.array([2.0, 3.0])
    np.testing.assert_allclose(y.numpy(), [4, 27])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4, 27])
    assert mc.gradcheck(lambda t: t ** mc.tensor([0.5, -1.0], dtype=np.float64), [x])


def test_integer_outputs_are_not_differentiable():
    class MaxWithIndex(Function):
        @staticmethod
        def forward(ctx, a):
            index = np.argmax(a, axis=1)
            ctx.index, ctx.shape = index, a.shape
            return np.take_along_axis(a, index[:, None], 1)[:, 0], index

        @staticmethod
        def backward(ctx, g, g_index):
            grad = np.zeros(ctx.shape, g.dtype)
            np.put_along_axis(grad, ctx.index[:, None], g[:, None], 1)
            return grad

    x = mc.tensor([[1.0, 3.0], [4.0, 2.0]], requires_grad=True)
    out = MaxWithIndex.apply(x)
    assert isinstance(out, tuple)
    values, index = out
    assert values.requires_grad and not index.requires_grad and index.grad_fn is None
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1], [1, 0]])
