"""blas.gemm (NumPy's BLAS called from Numba code) and its NumPy fallback against np.matmul."""
import ctypes

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minicnn.kernels.cpu import blas


def test_numpy_blas_is_found():
    """NumPy's wheels carry OpenBLAS with 64-bit integers: its GEMM is the one called."""
    assert blas.USES_NUMPY_BLAS


@given(m=st.integers(1, 9), n=st.integers(1, 9), k=st.integers(0, 9), trans_a=st.booleans(),
       trans_b=st.booleans(), beta=st.sampled_from([0.0, 1.0, -0.5]), gap=st.integers(0, 3),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_gemm_is_matmul(m, n, k, trans_a, trans_b, beta, gap, dtype, seed):
    """c = op(a) @ op(b) + beta * c for every pair of transposes, on views whose rows lie ``gap``
    entries apart (the rows of a wider matrix), as conv.py passes them."""
    rng = np.random.default_rng(seed)

    def matrix(rows, cols):
        return rng.standard_normal((rows, cols + gap)).astype(dtype)[:, :cols]

    a = matrix(k, m) if trans_a else matrix(m, k)
    b = matrix(n, k) if trans_b else matrix(k, n)
    c = matrix(m, n)
    expected = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b) + beta * c
    blas.gemm(trans_a, trans_b, a, b, beta, c)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, expected, rtol=tol, atol=tol)


def test_gemm_refuses_rows_that_are_not_contiguous():
    a = np.ones((4, 6))[:, ::2]
    with pytest.raises(ValueError, match="rows of each matrix must be contiguous"):
        blas.gemm(False, False, a, np.ones((3, 2)), 0.0, np.ones((4, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a,trans_b", [(False, False), (True, False), (False, True), (True, True)])
def test_the_numpy_fallback_is_cblas_gemm(dtype, trans_a, trans_b):
    """_numpy_gemm, which the names point to without NumPy's BLAS, called through ctypes as
    compiled code calls it: row-major, leading dimensions wider than the matrices."""
    rng = np.random.default_rng(0)
    m, n, k, ld = 3, 4, 5, 7
    a_full = rng.standard_normal((k if trans_a else m, ld)).astype(dtype)
    b_full = rng.standard_normal((n if trans_b else k, ld)).astype(dtype)
    c_full = rng.standard_normal((m, ld)).astype(dtype)
    a = a_full[:, :m if trans_a else k]
    b = b_full[:, :k if trans_b else n]
    expected = 2.0 * (a.T if trans_a else a) @ (b.T if trans_b else b) + 0.5 * c_full[:, :n]
    real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
    fallback = blas._signature(real)(blas._numpy_gemm(dtype))
    fallback(101, 112 if trans_a else 111, 112 if trans_b else 111, m, n, k, 2.0, a_full.ctypes.data, ld,
             b_full.ctypes.data, ld, 0.5, c_full.ctypes.data, ld)
    np.testing.assert_allclose(c_full[:, :n], expected, rtol=1e-5)
