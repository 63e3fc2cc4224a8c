"""gradcheck itself: it passes correct backwards, catches wrong ones and says where."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.autograd import Function
from minicnn.autograd.ops import Mul


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


class WrongSquare(Square):
    """Off by one in a single element: a check that samples or sums would miss it."""

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        grad = 2 * x * g
        grad[1, 2] += 0.5
        return grad


class TransposedMul(Mul):
    """a * b with the gradient of b transposed: shapes right, values wrong."""

    @staticmethod
    def backward(ctx, g):
        ga, gb = Mul.backward(ctx, g)
        return ga, gb.T


def leaf(shape, seed=0):
    return mc.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def test_passes_a_correct_backward():
    assert mc.gradcheck(lambda x: Square.apply(x), [leaf((3, 4))]) is True
    assert mc.gradcheck(lambda x: Square.apply(x), leaf((2,))) is True   # a lone Tensor works too


def test_catches_a_wrong_element_and_names_it():
    x = leaf((3, 4))
    with pytest.raises(AssertionError) as info:
        mc.gradcheck(lambda t: WrongSquare.apply(t), [x])
    message = str(info.value)
    assert "input 0" in message and "(1, 2)" in message
    assert "analytic" in message and "numeric" in message
    assert "1 of 12 elements" in message


def test_catches_a_wrong_gradient_of_a_second_input():
    a, b = leaf((3, 3), 1), leaf((3, 3), 2)
    with pytest.raises(AssertionError, match="input 1"):
        mc.gradcheck(lambda x, y: TransposedMul.apply(x, y), [a, b])


def test_raise_exception_false_returns_false():
    assert mc.gradcheck(lambda t: WrongSquare.apply(t), [leaf((3, 4))], raise_exception=False) is False
    assert mc.gradcheck(lambda t: Square.apply(t), [leaf((3, 4))], raise_exception=False) is True


def test_leaves_inputs_and_their_grads_as_they_were():
    x = leaf((2, 3))
    before = x.numpy().copy()
    x.grad = mc.tensor(np.full((2, 3), 7.0))
    mc.gradcheck(lambda t: (t * t).sum(), [x])
    np.testing.assert_array_equal(x.numpy(), before)
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 7.0))


def test_only_inputs_that_require_grad_are_checked():
    x = leaf((2, 2))
    w = mc.tensor(np.ones((2, 2)))                       # a constant, even if float32
    w32 = mc.tensor(np.ones((2, 2), np.float32))
    assert mc.gradcheck(lambda a, b, c: a * b + c, [x, w, w32])


def test_non_contiguous_input():
    x = mc.tensor(np.asfortranarray(np.arange(6.0).reshape(2, 3)) + 0.5, requires_grad=True)
    assert not x.numpy().flags["C_CONTIGUOUS"]
    assert mc.gradcheck(lambda t: t * t, [x])


def test_several_outputs():
    x = leaf((3,))
    assert mc.gradcheck(lambda t: (t.exp(), t * 2), [x])


def test_rejects_float32_and_nothing_to_check():
    with pytest.raises(TypeError, match="float64"):
        mc.gradcheck(lambda t: t * 2, [mc.tensor([1.0], requires_grad=True)])
    with pytest.raises(ValueError, match="requires_grad"):
        mc.gradcheck(lambda t: t * 2, [mc.tensor([1.0], dtype=np.float64)])


def test_tolerances_are_used():
    """A backward off by 1e-4 relative passes rtol=1e-3 but fails rtol=1e-6, atol=0."""
    class Slightly(Square):
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2 * x * g * (1 + 1e-4)

    x = leaf((4,))
    assert mc.gradcheck(lambda t: Slightly.apply(t), [x], atol=0, rtol=1e-3)
    assert not mc.gradcheck(lambda t: Slightly.apply(t), [x], atol=0, rtol=1e-6, raise_exception=False)
