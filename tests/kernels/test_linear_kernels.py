"""The CPU linear kernel (blocks of rows of BLAS products on minicnn's threads) against NumPy's @,
on the calling thread and on worker threads, every block size from one row up."""
from unittest import mock

import numpy as np
import threadpoolctl
from conv_cases import threaded_kernels
from hypothesis import given
from hypothesis import strategies as st

from minicnn.kernels import cpu
from minicnn.kernels.cpu import chunks


@given(lead=st.lists(st.integers(0, 5), min_size=1, max_size=3), n_in=st.integers(1, 9),
       n_out=st.integers(1, 9), dtype=st.sampled_from([np.float32, np.float64]),
       threaded=st.booleans(), block_bytes=st.sampled_from([1, 64, 1 << 20]), seed=st.integers(0, 2**16))
def test_linear_kernels_are_numpys_products(lead, n_in, n_out, dtype, threaded, block_bytes, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, n_in)).astype(dtype)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    gy = rng.standard_normal((*lead, n_out)).astype(dtype)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    with threaded_kernels(threaded), mock.patch.object(chunks, "CHUNK_BYTES", block_bytes):
        y = cpu.linear_forward(x, w, b)
        gx, gw, gb = cpu.linear_backward(x, w, gy)
    assert y.dtype == gx.dtype == gw.dtype == dtype
    x2, g2 = x.reshape(-1, n_in).astype(np.float64), gy.reshape(-1, n_out).astype(np.float64)
    np.testing.assert_allclose(y, x @ w.astype(np.float64).T + b, **tol)
    np.testing.assert_allclose(gx, gy @ w.astype(np.float64), **tol)
    np.testing.assert_allclose(gw, g2.T @ x2, **tol)
    np.testing.assert_allclose(gb, g2.sum(axis=0), **tol)


def test_linear_kernels_leave_blas_threads_as_they_were():
    """BLAS runs on one thread inside the kernels and is back to its own count after them."""
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    before = [lib["num_threads"] for lib in blas.info()]
    with threaded_kernels(True):
        cpu.linear_backward(np.ones((64, 120)), np.ones((84, 120)), np.ones((64, 84)))
    assert [lib["num_threads"] for lib in blas.info()] == before
