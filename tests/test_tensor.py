"""Tensor basics: dtypes, shape, conversion, grad bookkeeping, repr, creation helpers, no_grad, seeding."""
import numpy as np
import pytest

import minicnn as mc
from minicnn.autograd import Tensor


# ---------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("data, dtype", [
    ([1.0, 2.0], np.float32),                      # Python floats: float32, like torch
    (2.5, np.float32),
    (np.array([1.0, 2.0]), np.float64),            # a float64 array stays float64
    (np.array([1.0], dtype=np.float32), np.float32),
    (np.float64(1.5), np.float64),
    ([1, 2], np.int64),                            # integers stay integers
    ([True, False], np.bool_),
])
def test_tensor_dtype_rules(data, dtype):
    assert mc.tensor(data).dtype == dtype


def test_explicit_dtype_wins():
    assert mc.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert mc.tensor(np.ones(2), dtype="float32").dtype == np.float32
    assert mc.tensor([1.0], dtype=mc.float64).dtype == np.float64


def test_tensor_copies_but_Tensor_wraps():
    a = np.array([1.0, 2.0])
    t = mc.tensor(a)
    a[0] = 99
    assert t.numpy()[0] == 1.0
    w = Tensor(a)
    assert w.data is a and w.dtype == np.float64


def test_shape_ndim_size():
    t = mc.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.dim() == 3
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.numel() == 24 and len(t) == 2


def test_numpy_works_with_and_without_requires_grad():
    a = np.arange(6.0).reshape(2, 3)
    for rg in (False, True):
        t = mc.tensor(a, requires_grad=rg)
        np.testing.assert_array_equal(t.numpy(), a)
        assert isinstance(t.numpy(), np.ndarray)
    y = mc.tensor(a, requires_grad=True) * 2
    np.testing.assert_array_equal(y.numpy(), a * 2)
    np.testing.assert_array_equal(np.asarray(y), a * 2)


def test_item():
    assert mc.tensor([[3.5]]).item() == 3.5
    assert isinstance(mc.tensor(2.0, requires_grad=True).item(), float)
    assert mc.tensor([7]).item() == 7
    with pytest.raises(ValueError, match=r"one element.*\(2, 3\)"):
        mc.zeros(2, 3).item()


def test_only_float_tensors_require_grad():
    with pytest.raises(TypeError, match="floating point"):
        mc.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="floating point"):
        mc.tensor([1, 2]).requires_grad_()


def test_requires_grad_flag_and_grad_is_tensor_or_none():
    x = mc.tensor([1.0, 2.0])
    assert not x.requires_grad and x.grad is None and x.is_leaf
    x.requires_grad_()
    assert x.requires_grad
    (x * 3).sum().backward()
    assert isinstance(x.grad, Tensor)
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])
    x.requires_grad_(True)                # re-setting the flag keeps the gradient, as in torch
    assert x.grad is not None
    y = x * 2
    assert y.requires_grad and not y.is_leaf and y.grad_fn is not None
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_grads_accumulate_until_zeroed():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    for k in range(1, 4):
        (x * x).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), k * 2 * np.array([1.0, 2.0]))
    x.grad.zero_()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0])
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 4])
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5, 5])


def test_grad_is_a_copy_not_an_alias():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    g = mc.tensor([1.0, 1.0])
    x.backward(g)
    x.grad.data += 1
    np.testing.assert_array_equal(g.numpy(), [1, 1])


def test_detach_shares_data_and_cuts_the_graph():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).detach()
    assert not y.requires_grad and y.grad_fn is None
    d = x.detach()
    assert np.shares_memory(d.numpy(), x.numpy())
    z = (x * d).sum()          # d is a constant: dz/dx = d
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1, 2])


def test_clone_copies_and_keeps_the_graph():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    c = x.clone()
    assert not np.shares_memory(c.numpy(), x.numpy())
    (c * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])


# ------------------------------------------------------------------------ repr
def test_repr_like_pytorch():
    assert repr(mc.tensor([1.0, 2.0, 3.0])) == "tensor([1., 2., 3.])"
    assert repr(mc.tensor([1.5, 2.25])) == "tensor([1.5000, 2.2500])"
    assert repr(mc.tensor(3.5)) == "tensor(3.5000)"
    assert repr(mc.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(mc.tensor([[1.0, 2.0], [3.0, 4.0]])) == "tensor([[1., 2.],\n        [3., 4.]])"
    assert repr(mc.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(mc.tensor([1.0], dtype=np.float64)) == "tensor([1.], dtype=float64)"
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    assert repr((x * 2).sum()) == "tensor(6., grad_fn=<SumBackward0>)"
    assert repr(x + 1) == "tensor([2., 3.], grad_fn=<AddBackward0>)"
    assert repr(x * 1.5) == "tensor([1.5000, 3.0000], grad_fn=<MulBackward0>)"


# ------------------------------------------------------------------- creation
def test_zeros_ones_full_like():
    assert mc.zeros(2, 3).shape == (2, 3) and mc.zeros((2, 3)).shape == (2, 3)
    assert mc.zeros(2).dtype == np.float32 and mc.ones(2, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(mc.ones([2, 2]).numpy(), np.ones((2, 2)))
    np.testing.assert_array_equal(mc.full((2,), 7.0).numpy(), [7, 7])
    assert mc.zeros(3, requires_grad=True).requires_grad
    x = mc.tensor(np.ones((2, 2)))
    assert mc.zeros_like(x).dtype == np.float64 and mc.ones_like(x).shape == (2, 2)


def test_randn_statistics_and_seed():
    mc.manual_seed(123)
    a = mc.randn(20000)
    assert a.dtype == np.float32 and a.shape == (20000,)
    assert abs(a.numpy().mean()) < 0.03 and abs(a.numpy().std() - 1) < 0.03
    mc.manual_seed(123)
    np.testing.assert_array_equal(mc.randn(20000).numpy(), a.numpy())
    assert not np.array_equal(mc.randn(20000).numpy(), a.numpy())
    assert mc.randn(2, 3).shape == (2, 3) and mc.randn((2, 3)).shape == (2, 3)
    r = mc.rand(1000).numpy()
    assert r.min() >= 0 and r.max() < 1


def test_manual_seed_reproduces_layer_init():
    import minicnn.nn as nn
    mc.manual_seed(7)
    w1 = nn.Linear(5, 3).weight.numpy().copy()
    mc.manual_seed(7)
    np.testing.assert_array_equal(nn.Linear(5, 3).weight.numpy(), w1)


def test_arange_like_torch():
    np.testing.assert_array_equal(mc.arange(5).numpy(), np.arange(5))
    assert mc.arange(5).dtype == np.int64
    assert mc.arange(0.0, 1.0, 0.25).dtype == np.float32
    np.testing.assert_allclose(mc.arange(1, 2, 0.5).numpy(), [1.0, 1.5])
    np.testing.assert_array_equal(mc.arange(2, 9, 3).numpy(), [2, 5, 8])


# --------------------------------------------------------------------- no_grad
def test_no_grad_records_nothing_and_restores():
    x = mc.tensor([1.0], requires_grad=True)
    assert mc.is_grad_enabled()
    with mc.no_grad():
        assert not mc.is_grad_enabled()
        y = x * 2
        with mc.enable_grad():
            z = x * 2
    assert mc.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad


def test_no_grad_restores_after_an_exception():
    with pytest.raises(KeyError):
        with mc.no_grad():
            raise KeyError
    assert mc.is_grad_enabled()


def test_no_grad_as_decorator():
    @mc.no_grad()
    def double(t):
        return t * 2

    assert not double(mc.tensor([1.0], requires_grad=True)).requires_grad
    assert mc.is_grad_enabled()


# ----------------------------------------------------------------- operators
def test_numpy_array_on_the_left_gives_a_tensor():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    for y in (np.ones(2, np.float32) + x, np.ones(2) * x, np.float32(2) - x, 1.0 / x):
        assert isinstance(y, Tensor) and y.requires_grad


def test_comparisons_give_boolean_tensors():
    x = mc.tensor([1.0, 2.0, 3.0])
    assert (x > 1.5).dtype == np.bool_
    np.testing.assert_array_equal((x == 2).numpy(), [False, True, False])
    np.testing.assert_array_equal((x <= mc.tensor([1.0, 1.0, 5.0])).numpy(), [True, False, True])


def test_setitem_refuses_a_tensor_in_the_graph():
    x = mc.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 5.0
    with mc.no_grad():
        x[0] = 5.0
    assert x.numpy()[0] == 5.0


def test_casts():
    x = mc.tensor([1.5, 2.5], requires_grad=True)
    assert x.double().dtype == np.float64 and x.to(np.float64).float().dtype == np.float32
    assert x.long().dtype == np.int64 and x.to("cpu") is x
    x.double().sum().backward()
    assert x.grad.dtype == np.float32


# ------------------------------------------------------------------- bad input
def test_matmul_shape_errors_name_the_rule():
    with pytest.raises(ValueError,
                       match=r"matmul: shapes \(2, 3\) and \(2, 3\) do not fit.*\(3\).*second-to-last.*\(2\)"):
        mc.zeros(2, 3) @ mc.zeros(2, 3)
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4,\).*only dimension"):
        mc.zeros(2, 3) @ mc.zeros(4)
    with pytest.raises(ValueError, match=r"batch dimensions \(2,\).*\(3,\).*do not broadcast"):
        mc.zeros(2, 2, 3) @ mc.zeros(3, 3, 4)
    with pytest.raises(ValueError, match="at least one dimension"):
        mc.tensor(2.0) @ mc.zeros(2)


def test_shape_op_errors():
    x = mc.zeros(2, 3)
    with pytest.raises(ValueError, match=r"shape \(4, 2\) is invalid for input of shape \(2, 3\) \(6 elements\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match=r"permute: dims \(0, 0\) are not a permutation of the 2 axes"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match=r"cat along dim 0: tensor 1 has shape \(3, 2\).*\(2, 3\)"):
        mc.cat([x, mc.zeros(3, 2)])
    with pytest.raises(ValueError, match="zero-dimensional"):
        mc.cat([mc.tensor(1.0), mc.tensor(2.0)])
    with pytest.raises(ValueError, match=r"stack expects tensors of equal shape: tensor 1 has \(3, 2\)"):
        mc.stack([x, mc.zeros(3, 2)])
    with pytest.raises(ValueError, match="non-empty"):
        mc.cat([])
