"""The Numba pooling kernels against the NumPy reference; -inf padding, ties, adjoints."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pool_cases import pool_problems

from conv_cases import threaded_kernels

from minicnn.kernels import cpu, reference
from minicnn.kernels.shape_rules import pool_output_size

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}


def _max_args(p):
    return p["kernel"], p["stride"], p["padding"], p["dilation"], p["ceil_mode"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(problem=pool_problems())
def test_max_pool_matches_reference(dtype, problem):
    x = np.random.default_rng(0).standard_normal(problem["x_shape"]).astype(dtype)
    y, idx = cpu.max_pool2d_forward(x, *_max_args(problem))
    y_ref, idx_ref = reference.max_pool2d_forward(x, *_max_args(problem))
    assert y.dtype == dtype and idx.dtype == np.int64
    assert y.shape[2:] == pool_output_size(x.shape[2:], *_max_args(problem))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(cpu.max_pool2d_backward(gy, idx, x.shape),
                               reference.max_pool2d_backward(gy, idx_ref, x.shape), **TOL[dtype])


@given(problem=pool_problems())
def test_max_pool_pads_with_minus_infinity(problem):
    """All inputs negative: zero padding would show up as 0 in the output; -inf padding never does."""
    x = -1.0 - np.random.default_rng(0).random(problem["x_shape"])
    y, _ = cpu.max_pool2d_forward(x, *_max_args(problem))
    assert np.all(y < 0) or not np.all(np.isfinite(y))        # -inf only where a window saw no pixel
    assert np.all(np.isin(y[np.isfinite(y)], x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(problem=pool_problems(), wide=st.booleans(), seed=st.integers(0, 2**16))
def test_max_pool_ties_nans_and_infinities_match_reference(dtype, problem, wide, seed):
    """Values from {-2, -1, 0, 1} give ties in most windows; some NaNs and real -infs. The index is
    the first pixel in row-major window order holding the max (the first NaN), as the reference.
    ``wide`` adds 16 columns, so rows are long enough for the vectorized loops."""
    rng = np.random.default_rng(seed)
    n, c, h, w = problem["x_shape"]
    x = rng.integers(-2, 2, (n, c, h, w + 16 * wide)).astype(dtype)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[rng.random(x.shape) < 0.1] = -np.inf
    y, idx = cpu.max_pool2d_forward(x, *_max_args(problem))
    y_ref, idx_ref = reference.max_pool2d_forward(x, *_max_args(problem))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("kernel, stride, dilation", [
    ((2, 2), (2, 2), (1, 1)),      # the unrolled 2x2 stride-2 loop
    ((3, 3), (3, 3), (1, 1)), ((2, 3), (2, 3), (1, 1)), ((1, 1), (1, 1), (1, 1)),
    ((2, 2), (3, 3), (2, 2)), ((3, 2), (2, 2), (1, 1)), ((2, 2), (2, 2), (2, 1)),
])
def test_max_pool_windows_tiling_rows_match_reference(kernel, stride, dilation, threaded):
    """Windows that tile each row exactly (W = Wo * sw, no column padding) take the one-loop
    horizontal pass; ties, NaNs and -infs everywhere, as in the test above."""
    args = (kernel, stride, (0, 0), dilation, False)
    _check_against_reference((2, 5, 12, 36), args, threaded, whole_rows=True)


def _check_against_reference(shape, args, threaded, edge_maxima=False, whole_rows=False):
    """max_pool2d of x (ties, NaNs and -infs everywhere; with ``edge_maxima``, maxima in the rows'
    first and last columns) equals the reference; ``whole_rows``: args whose output rows hold
    Wo * sw columns."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        x = rng.integers(-2, 2, shape).astype(dtype)
        x[rng.random(x.shape) < 0.05] = np.nan
        x[rng.random(x.shape) < 0.1] = -np.inf
        if edge_maxima:
            x[0, 0, :, 0] = x[0, 1, :, -1] = 5
        with threaded_kernels(threaded):
            y, idx = cpu.max_pool2d_forward(x, *args)
        assert y.shape[3] * args[1][1] == x.shape[3] or not whole_rows
        y_ref, idx_ref = reference.max_pool2d_forward(x, *args)
        np.testing.assert_array_equal(y, y_ref)
        np.testing.assert_array_equal(idx, idx_ref)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("width, kernel, stride, padding, ceil_mode", [
    (36, (3, 3), (2, 2), (1, 1), False),    # ResNet's 3x3 stride-2 padding-1 pooling
    (36, (2, 3), (1, 2), (0, 1), False), (34, (3, 3), (2, 2), (0, 0), True),
    (36, (3, 3), (1, 1), (1, 1), False), (9, (1, 3), (1, 1), (0, 1), True),
    (4, (3, 3), (2, 2), (1, 1), False), (3, (3, 3), (1, 1), (1, 1), False),
])
def test_max_pool_windows_over_whole_rows_match_reference(width, kernel, stride, padding, ceil_mode, threaded):
    """3x3-wide windows over rows of exactly Wo * sw columns that reach past a row's ends take the
    one-loop pass whose row-edge outputs are done again (_row_maxima_wrapped); ties, NaNs and
    -infs everywhere, and maxima in the rows' first and last columns."""
    args = (kernel, stride, padding, (1, 1), ceil_mode)
    _check_against_reference((2, 5, 12, width), args, threaded, edge_maxima=True, whole_rows=True)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("width, kernel, stride, padding, ceil_mode", [
    (55, (3, 3), (2, 2), (0, 0), False), (27, (3, 3), (2, 2), (0, 0), False),   # AlexNet's
    (27, (3, 3), (2, 2), (1, 1), True), (33, (3, 3), (2, 2), (1, 1), False),
    (30, (3, 3), (1, 1), (0, 0), False), (7, (3, 3), (1, 1), (0, 0), True),
    (3, (3, 3), (2, 2), (0, 0), True),
    (31, (2, 2), (2, 2), (0, 0), False), (31, (2, 2), (2, 2), (0, 0), True), (32, (2, 2), (2, 2), (1, 1), False),
    (33, (2, 2), (2, 2), (1, 1), True), (1, (2, 2), (2, 2), (1, 1), False), (2, (3, 2), (1, 2), (1, 1), True),
])
def test_max_pool_windows_over_any_rows_match_reference(width, kernel, stride, padding, ceil_mode, threaded):
    """2x2 stride-2 and 3x3 windows over rows of any width take the wrapped pass too, over column
    maxima laid out max(Wo, ceil(W / sw)) * sw entries a row, whose outputs past Wo are dropped."""
    args = (kernel, stride, padding, (1, 1), ceil_mode)
    _check_against_reference((2, 5, 12, width), args, threaded, edge_maxima=True)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("kernel, stride", [((2, 2), (2, 2)), ((3, 3), (3, 3)), ((2, 3), (2, 3)),
                                            ((1, 1), (1, 1)), ((2, 2), (3, 3)), ((3, 2), (2, 2))])
def test_avg_pool_windows_tiling_rows_match_reference(kernel, stride, threaded):
    """The one-loop horizontal passes of average pooling (forward and backward), as for max."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal((2, 5, 12, 36)).astype(dtype)
        args = (kernel, stride, (0, 0), False, True, None)
        with threaded_kernels(threaded):
            y = cpu.avg_pool2d_forward(x, *args)
            gy = rng.standard_normal(y.shape).astype(dtype)
            gx = cpu.avg_pool2d_backward(gy, x.shape, *args)
        assert y.shape[3] * stride[1] == x.shape[3]
        np.testing.assert_allclose(y, reference.avg_pool2d_forward(x, *args), **TOL[dtype])
        np.testing.assert_allclose(gx, reference.avg_pool2d_backward(gy, x.shape, *args), **TOL[dtype])


def test_max_pool_of_minus_infinities_names_a_pixel():
    """A window of real -inf values names its first pixel (PyTorch does); only a window that sees
    no pixel at all gets -1."""
    x = np.full((1, 1, 3, 3), -np.inf)
    _, idx = cpu.max_pool2d_forward(x, (2, 2), (2, 2), (1, 1), (1, 1), False)
    np.testing.assert_array_equal(idx[0, 0], [[0, 1], [3, 4]])
    _, idx = reference.max_pool2d_forward(x, (2, 2), (2, 2), (1, 1), (1, 1), False)
    np.testing.assert_array_equal(idx[0, 0], [[0, 1], [3, 4]])


def test_max_pool_tie_goes_to_first_position():
    x = np.zeros((1, 1, 4, 4))
    y, idx = cpu.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(idx[0, 0], [[0, 2], [8, 10]])   # the top-left of each window
    gx = cpu.max_pool2d_backward(np.ones_like(y), idx, x.shape)
    np.testing.assert_array_equal(gx[0, 0], [[1, 0, 1, 0], [0, 0, 0, 0], [1, 0, 1, 0], [0, 0, 0, 0]])


def test_max_pool_nan_propagates():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    x[0, 0, 0, 1] = np.nan
    y, _ = cpu.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
    assert np.isnan(y[0, 0, 0, 0]) and not np.isnan(y[0, 0, 1, 1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(problem=pool_problems(dilation=False), count_include_pad=st.booleans(),
       divisor_override=st.sampled_from([None, None, 3]))
def test_avg_pool_matches_reference(dtype, problem, count_include_pad, divisor_override):
    x = np.random.default_rng(0).standard_normal(problem["x_shape"]).astype(dtype)
    args = (problem["kernel"], problem["stride"], problem["padding"], problem["ceil_mode"],
            count_include_pad, divisor_override)
    y = cpu.avg_pool2d_forward(x, *args)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, reference.avg_pool2d_forward(x, *args), **TOL[dtype])
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    gx = cpu.avg_pool2d_backward(gy, x.shape, *args)
    np.testing.assert_allclose(gx, reference.avg_pool2d_backward(gy, x.shape, *args), **TOL[dtype])
    if dtype == np.float64:                   # average pooling is linear: backward is its transpose
        np.testing.assert_allclose(np.vdot(y, gy), np.vdot(x, gx), rtol=1e-10)


def test_avg_pool_divisor_rules():
    x = np.ones((1, 1, 2, 2))
    args = ((2, 2), (2, 2), (1, 1), False)
    np.testing.assert_array_equal(cpu.avg_pool2d_forward(x, *args, True)[0, 0], [[0.25, 0.25], [0.25, 0.25]])
    np.testing.assert_array_equal(cpu.avg_pool2d_forward(x, *args, False)[0, 0], [[1, 1], [1, 1]])
    np.testing.assert_array_equal(cpu.avg_pool2d_forward(x, *args, True, 2)[0, 0], [[0.5, 0.5], [0.5, 0.5]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(shape=st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9)),
       out=st.tuples(st.integers(1, 6), st.integers(1, 6)))
def test_adaptive_pools_match_reference(dtype, shape, out):
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    y = cpu.adaptive_avg_pool2d_forward(x, out)
    np.testing.assert_allclose(y, reference.adaptive_avg_pool2d_forward(x, out), **TOL[dtype])
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    np.testing.assert_allclose(cpu.adaptive_avg_pool2d_backward(gy, x.shape),
                               reference.adaptive_avg_pool2d_backward(gy, x.shape), **TOL[dtype])
    ym, idx = cpu.adaptive_max_pool2d_forward(x, out)
    ym_ref, idx_ref = reference.adaptive_max_pool2d_forward(x, out)
    np.testing.assert_array_equal(ym, ym_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    np.testing.assert_allclose(cpu.adaptive_max_pool2d_backward(gy, idx, x.shape),
                               reference.adaptive_max_pool2d_backward(gy, idx_ref, x.shape), **TOL[dtype])


@given(problem=pool_problems(dilation=False), out=st.tuples(st.integers(1, 4), st.integers(1, 4)))
def test_threads_give_the_serial_numbers(problem, out):
    """The chunks of the batch on two threads, or all on the calling thread: the same numbers."""
    x = np.random.default_rng(0).standard_normal(problem["x_shape"])
    avg_args = (problem["kernel"], problem["stride"], problem["padding"], problem["ceil_mode"], False, None)
    results = []
    for threaded in (False, True):
        with threaded_kernels(threaded):
            y, idx = cpu.max_pool2d_forward(x, *_max_args(problem))
            ya = cpu.avg_pool2d_forward(x, *avg_args)
            yaa = cpu.adaptive_avg_pool2d_forward(x, out)
            yam, idxam = cpu.adaptive_max_pool2d_forward(x, out)
            results.append((y, idx, cpu.max_pool2d_backward(y, idx, x.shape), ya,
                            cpu.avg_pool2d_backward(ya, x.shape, *avg_args), yaa,
                            cpu.adaptive_avg_pool2d_backward(yaa, x.shape), yam, idxam))
    for serial, threaded in zip(*results):
        np.testing.assert_array_equal(serial, threaded)


def test_global_average_pooling():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7))
    np.testing.assert_allclose(cpu.adaptive_avg_pool2d_forward(x, (1, 1))[:, :, 0, 0], x.mean(axis=(2, 3)))


@pytest.mark.parametrize("threaded", [False, True])
def test_an_empty_batch_gives_empty_outputs(threaded):
    x = np.ones((0, 3, 8, 8), np.float32)
    with threaded_kernels(threaded):
        y, idx = cpu.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)
        assert y.shape == idx.shape == (0, 3, 4, 4)
        assert cpu.max_pool2d_backward(y, idx, x.shape).shape == x.shape
        y = cpu.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0), False, True)
        assert y.shape == (0, 3, 4, 4)
        assert cpu.avg_pool2d_backward(y, x.shape, (2, 2), (2, 2), (0, 0), False, True).shape == x.shape
        assert cpu.adaptive_avg_pool2d_forward(x, (1, 1)).shape == (0, 3, 1, 1)
        assert cpu.adaptive_avg_pool2d_backward(np.ones((0, 3, 1, 1), np.float32), x.shape).shape == x.shape
        assert cpu.adaptive_max_pool2d_forward(x, (2, 2))[0].shape == (0, 3, 2, 2)
