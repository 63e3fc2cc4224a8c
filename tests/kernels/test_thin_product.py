"""thin.product (register tiles for a short inner dimension, BLAS otherwise) against np.matmul."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from minicnn.kernels.cpu import thin


def _operands(rng, m, k, n, gap, dtype):
    """a (m, k); b (k, n + gap) and c (m, n + gap), whose last ``gap`` columns stand for a column
    matrix's gaps (conv.row_stride): c's are filled with a marker that must survive."""
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n + gap)).astype(dtype)
    c = np.full((m, n + gap), 7.0, dtype)
    return a, b, c


@given(m=st.integers(1, 40), k=st.integers(0, 40), n=st.integers(1, 80), gap=st.integers(0, 20),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16))
def test_product_is_matmul(m, k, n, gap, dtype, seed):
    """Both ways (the tiles for float32 with k <= 32, m >= 4, n >= 16; BLAS otherwise): the
    product in c's first n columns, whatever c held, and nothing written past them. The sizes
    cross the tile's 4 rows and 16 columns, so the last tiles overlap the ones before."""
    a, b, c = _operands(np.random.default_rng(seed), m, k, n, gap, dtype)
    thin.product(a, b, c, n)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c[:, :n], a.astype(np.float64) @ b[:, :n], rtol=tol, atol=tol)
    assert (c[:, n:] == 7.0).all()


@given(m=st.integers(4, 40), k=st.integers(1, thin.THIN_MAX_INNER), n=st.integers(16, 80),
       seed=st.integers(0, 2**16))
def test_the_tiles_are_matmul(m, k, n, seed):
    """thin_product itself, on every shape it takes (float32, m >= 4, n >= 16)."""
    a, b, c = _operands(np.random.default_rng(seed), m, k, n, 3, np.float32)
    thin.thin_product(a, b, c, n)
    np.testing.assert_allclose(c[:, :n], a.astype(np.float64) @ b[:, :n], rtol=1e-5, atol=1e-5)
    assert (c[:, n:] == 7.0).all()


def test_the_tiles_on_a_layers_shapes():
    """A (64, 3, 32, 32) layer's forward, W (32, 28) @ cols (28, 1024) in rows 1056 apart, and its
    input gradient W^T (27, 32) @ gy (32, 1024)."""
    rng = np.random.default_rng(0)
    for m, k in [(32, 28), (27, 32)]:
        a, b, c = _operands(rng, m, k, 1024, 32, np.float32)
        thin.thin_product(a, b, c, 1024)
        np.testing.assert_allclose(c[:, :1024], a.astype(np.float64) @ b[:, :1024], rtol=1e-5, atol=1e-5)


@given(m=st.integers(1, 70), o=st.integers(1, 70), n=st.integers(0, 90), gap=st.integers(0, 20),
       beta=st.sampled_from([0.0, 1.0]), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 2**16))
def test_product_t_is_matmul(m, o, n, gap, beta, dtype, seed):
    """c = a[:, :n] @ b[:, :n]^T + beta * c both ways (the tiles for float32 with 4 <= m <= 32,
    3 <= o <= 32; BLAS otherwise), the columns past n (a column matrix's gaps) never read: they
    hold NaN here. The sizes cross the tile's 4 x 3 entries and 8 columns a step."""
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal((rows, n + gap)).astype(dtype) for rows in (m, o))
    a[:, n:] = b[:, n:] = np.nan
    c = rng.standard_normal((m, o)).astype(dtype)
    expected = a[:, :n].astype(np.float64) @ b[:, :n].T + beta * c
    thin.product_t(a, b, beta, c, n)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(c, expected, rtol=tol, atol=tol)


@given(m=st.integers(4, 40), o=st.integers(3, 40), n=st.integers(0, 90), beta=st.sampled_from([0.0, 1.0]),
       seed=st.integers(0, 2**16))
def test_the_dot_product_tiles_are_matmul(m, o, n, beta, seed):
    """thin_product_t itself, on every shape it takes (float32, m >= 4, o >= 3)."""
    rng = np.random.default_rng(seed)
    a, b = (rng.standard_normal((rows, n + 5)).astype(np.float32) for rows in (m, o))
    c = rng.standard_normal((m, o)).astype(np.float32)
    expected = a[:, :n].astype(np.float64) @ b[:, :n].T + beta * c
    thin.thin_product_t(a, b, beta, c, n)
    np.testing.assert_allclose(c, expected, rtol=1e-5, atol=1e-5)
