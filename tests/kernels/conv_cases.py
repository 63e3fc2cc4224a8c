"""Hypothesis strategy for convolution problems, shared by the kernel, op and PyTorch tests."""
import contextlib
from unittest import mock

import numba
import numpy as np
from hypothesis import strategies as st

from minicnn.kernels.cpu import chunks


@st.composite
def conv_problems(draw, max_batch=3, max_group_channels=3, max_groups=3, max_kernel=4, max_stride=3,
                  max_padding=2, max_dilation=2, depthwise=True):
    """dict(x_shape, w_shape, stride, padding, dilation, groups), sizes small and always valid
    (the padded input at least as large as the dilated kernel)."""
    groups = draw(st.integers(1, max_groups))
    cg = draw(st.integers(1, max_group_channels))
    og = 1 if depthwise and draw(st.booleans()) and cg == 1 else draw(st.integers(1, max_group_channels))
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = (draw(st.integers(1, max_stride)), draw(st.integers(1, max_stride)))
    padding = (draw(st.integers(0, max_padding)), draw(st.integers(0, max_padding)))
    dilation = (draw(st.integers(1, max_dilation)), draw(st.integers(1, max_dilation)))
    hw = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 5))
               for k, p, d in zip(kernel, padding, dilation))
    n = draw(st.integers(1, max_batch))
    return dict(x_shape=(n, groups * cg, *hw), w_shape=(groups * og, cg, *kernel),
                stride=stride, padding=padding, dilation=dilation, groups=groups)


def conv_arrays(problem, dtype, seed=0, bias=True):
    """x, w, b (or None) with standard normal entries for a conv_problems() dict."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(problem["x_shape"]).astype(dtype)
    w = rng.standard_normal(problem["w_shape"]).astype(dtype)
    b = rng.standard_normal(problem["w_shape"][0]).astype(dtype) if bias else None
    return x, w, b


def conv_args(problem):
    """(stride, padding, dilation, groups), the trailing arguments of every conv kernel."""
    return problem["stride"], problem["padding"], problem["dilation"], problem["groups"]


def transposed_size(in_hw, kernel, stride, padding, dilation, output_padding):
    """(Ho, Wo) of conv_transpose2d: (H - 1) s - 2p + d(k - 1) + output_padding + 1 per axis."""
    return tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1
                 for n, k, s, p, d, op in zip(in_hw, kernel, stride, padding, dilation, output_padding))


@contextlib.contextmanager
def threaded_kernels(threaded):
    """Run kernels on 2 threads, small calls included (threaded=True), or on the calling thread."""
    old = numba.get_num_threads()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS) if threaded else old)
    try:
        with mock.patch.object(chunks, "PARALLEL_MIN_WORK", 0 if threaded else 1 << 62):
            yield
    finally:
        numba.set_num_threads(old)
