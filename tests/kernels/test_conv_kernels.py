"""The Numba convolution kernels against the NumPy reference, the adjoint identities and the
output-size rule. Both algorithms (im2col and Winograd's F(2x2, 3x3)) and every way of cutting the
batch into chunks, on the calling thread or on worker threads, must give the reference's numbers."""
import contextlib
import threading
import time
from unittest import mock

import numba
import numpy as np
import pytest
from conv_cases import conv_args, conv_arrays, conv_problems, threaded_kernels
from hypothesis import given
from hypothesis import strategies as st

from minicnn.kernels import cpu, reference
from minicnn.kernels.cpu import chunks
from minicnn.kernels.cpu import conv as conv_module
from minicnn.kernels.cpu import direct
from minicnn.kernels.scratch import CACHE_LINE, aligned_empty
from minicnn.kernels.shape_rules import conv_output_size, pair, pool_output_size, same_padding

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


@st.composite
def winograd_problems(draw):
    """conv_problems() that Winograd's F(2x2, 3x3) applies to: 3x3, stride 1, undilated, one group;
    odd and even output sizes (half tiles), padding 0-2."""
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    hw = tuple(max(1, 3 - 2 * p) + draw(st.integers(0, 6)) for p in padding)
    c, o = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return dict(x_shape=(draw(st.integers(1, 3)), c, *hw), w_shape=(o, c, 3, 3), stride=(1, 1),
                padding=padding, dilation=(1, 1), groups=1)


@contextlib.contextmanager
def winograd_from(channels):
    """Winograd's F(2x2, 3x3) for every eligible convolution of at least ``channels`` input channels
    (10**9: never)."""
    with mock.patch.object(conv_module, "WINOGRAD_MIN_CHANNELS", channels):
        yield


@contextlib.contextmanager
def chunk_bytes(size):
    """Chunks of the batch whose intermediates fit ``size`` bytes (1: one image per chunk)."""
    with mock.patch.object(chunks, "CHUNK_BYTES", size):
        yield


@contextlib.contextmanager
def per_image_from(pixels):
    """One column matrix per image for outputs of at least ``pixels`` pixels (1: always)."""
    with mock.patch.object(conv_module, "PER_IMAGE_MIN_PIXELS", pixels):
        yield


LAYOUTS = ["one matrix", "per image", "direct gW"]


@contextlib.contextmanager
def layout(name):
    """im2col (Winograd off) with one column matrix for the chunk ("one matrix") or one per image
    ("per image"), or one per image with the weight gradient by direct.py's loops for any number
    of output channels ("direct gW"; conv.uses_direct_weight_grad otherwise)."""
    direct_up_to = 10 ** 9 if name == "direct gW" else 0
    with winograd_from(10 ** 9), per_image_from(10 ** 9 if name == "one matrix" else 1), \
            mock.patch.object(direct, "DIRECT_MAX_OUT_CHANNELS", direct_up_to):
        yield


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("per_image", LAYOUTS)
@given(problem=conv_problems(), bias=st.booleans())
def test_conv_kernels_match_reference(dtype, per_image, problem, bias):
    """Every column layout: one matrix for the chunk, or one per image, its weight gradient by
    GEMM or by direct loops."""
    with layout(per_image):
        _check_against_reference(dtype, problem, bias)


@contextlib.contextmanager
def gaps_between_all_rows():
    """A gap between the rows of every column matrix (conv.row_stride), not only between rows a
    multiple of 2 KiB long."""
    with mock.patch.object(conv_module, "ALIASED_ROW_BYTES", 1):
        yield


@pytest.mark.parametrize("per_image", LAYOUTS)
@given(problem=conv_problems(), bias=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]))
def test_gaps_between_rows_change_no_number(per_image, problem, bias, dtype):
    with gaps_between_all_rows(), layout(per_image):
        assert conv_module.row_stride(5, dtype) > 5
        _check_against_reference(dtype, problem, bias)


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("kernel, padding", [(3, 1), (1, 0)])
def test_rows_of_4_kib_get_a_gap(per_image, kernel, padding):
    """A batch of 32x32 float32 images: 1024-entry rows, 4 KiB, get 32 entries more between them;
    for one matrix per chunk, two 16x32 images make the same row length (1x1: im2col's straight
    copy)."""
    assert conv_module.row_stride(1024, np.float32) == 1056
    assert conv_module.row_stride(512, np.float64) == 528
    assert conv_module.row_stride(1008, np.float32) == 1008
    assert conv_module.row_stride(1000, np.float32) == 1008          # rows start a cache line
    assert conv_module.row_stride(1001, np.float64) == 1008
    x_shape = (3, 3, 32, 32) if per_image else (2, 3, 16, 32)
    problem = dict(x_shape=x_shape, w_shape=(5, 3, kernel, kernel), stride=(1, 1), padding=(padding, padding),
                   dilation=(1, 1), groups=1)
    with layout("per image" if per_image else "one matrix"), chunk_bytes(1 << 30):
        _check_against_reference(np.float32, problem, True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(problem=winograd_problems(), bias=st.booleans())
def test_winograd_matches_reference(dtype, problem, bias):
    with winograd_from(1):
        assert conv_module.uses_winograd(problem["w_shape"], problem["stride"], problem["dilation"], 1)
        _check_against_reference(dtype, problem, bias)


DIRECT_CASES = [
    dict(x_shape=(4, 1, 32, 32), w_shape=(6, 1, 5, 5), stride=(1, 1), padding=(0, 0), dilation=(1, 1)),  # C1
    dict(x_shape=(3, 3, 32, 32), w_shape=(8, 3, 3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1)),
    dict(x_shape=(2, 2, 30, 27), w_shape=(5, 2, 3, 5), stride=(1, 1), padding=(2, 1), dilation=(2, 1)),
    dict(x_shape=(2, 3, 25, 41), w_shape=(7, 3, 2, 1), stride=(1, 1), padding=(0, 3), dilation=(1, 3)),
    dict(x_shape=(5, 2, 24, 24), w_shape=(1, 2, 1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("problem", DIRECT_CASES)
def test_direct_weight_grad_on_large_images(problem, threaded, dtype):
    """Layers with few output channels and large images, as conv.py meets them (no threshold
    changed): LeNet-5's C1, padding, dilation, non-square and 1x1 kernels, odd channel and tap
    counts, rows not a multiple of 16 pixels; each gradient asked for alone and together."""
    problem = dict(problem, groups=1)
    x, w, b = conv_arrays(problem, dtype)
    args = conv_args(problem)
    out_hw = conv_output_size(x.shape[2:], w.shape[2:], *args[:3])
    assert conv_module.uses_direct_weight_grad(w.shape[0], args[0], 1, out_hw)
    with threaded_kernels(threaded), chunk_bytes(1 if threaded else 1 << 30):
        _check_against_reference(dtype, problem, True)
        gy = np.random.default_rng(5).standard_normal((x.shape[0], w.shape[0], *out_hw)).astype(dtype)
        want = reference.conv2d_weight_grad(x, gy, w.shape, *args)
        for needs in ((False, True, False), (False, True, True), (True, True, False)):
            gw = cpu.conv2d_backward(x, w, gy, *args, needs=needs)[1]
            np.testing.assert_allclose(gw, want, **TOL[dtype])


THIN_CASES = [   # float32 layers whose products thin.py's tiles take (K [+ 1], O, C at most 32)
    dict(x_shape=(3, 3, 32, 32), w_shape=(32, 3, 3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1),
    dict(x_shape=(3, 3, 32, 32), w_shape=(32, 3, 3, 3), stride=(1, 1), padding=(1, 1), dilation=(2, 2), groups=1),
    dict(x_shape=(2, 2, 30, 27), w_shape=(13, 2, 3, 5), stride=(1, 1), padding=(2, 1), dilation=(2, 1), groups=1),
    dict(x_shape=(8, 3, 16, 16), w_shape=(16, 3, 3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1),
    dict(x_shape=(4, 8, 8, 9), w_shape=(32, 2, 3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=4),
    dict(x_shape=(2, 16, 12, 12), w_shape=(16, 16, 3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1),
    dict(x_shape=(2, 24, 10, 11), w_shape=(20, 24, 3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), groups=1),
]


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("problem", THIN_CASES)
def test_thin_products_on_real_layers(problem, threaded):
    """As conv.py meets them (no threshold changed): large images (a (64, 3, 32, 32) layer and its
    dilated twin, 13 output channels), small ones in one matrix a chunk, groups, and Winograd with
    16 and 24 channels; tiles overlapping at the edges of every product."""
    with threaded_kernels(threaded), chunk_bytes(1 if threaded else 1 << 30):
        _check_against_reference(np.float32, problem, True)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_inputs_give_the_gemm_weight_gradient(bad):
    """An inf or NaN in x's last column (seen only by the taps that reach it): the taps that never
    see it keep finite gradients, as with PyTorch, rather than the NaN of 0 * inf in the direct
    loops' dropped pixels."""
    problem = dict(DIRECT_CASES[0], groups=1)
    x, w, _ = conv_arrays(problem, np.float64)
    x[1, 0, 7, -1] = bad
    args = conv_args(problem)
    gy = np.random.default_rng(6).standard_normal((4, 6, 28, 28))
    gw = cpu.conv2d_weight_grad(x, gy, w.shape, *args)
    want = reference.conv2d_weight_grad(x, gy, w.shape, *args)
    assert np.isfinite(gw[:, :, :, :-1]).all()               # taps j < 4 never reach column 31
    np.testing.assert_allclose(gw, want, **TOL[np.float64])


def test_direct_weight_grad_is_used_where_it_pays():
    """At most DIRECT_MAX_OUT_CHANNELS (8) output channels, stride 1, one group, large images."""
    big, small = (28, 28), (8, 8)
    assert conv_module.uses_direct_weight_grad(8, (1, 1), 1, big)
    assert not conv_module.uses_direct_weight_grad(9, (1, 1), 1, big)
    assert not conv_module.uses_direct_weight_grad(6, (2, 1), 1, big)
    assert not conv_module.uses_direct_weight_grad(6, (1, 1), 2, big)
    assert not conv_module.uses_direct_weight_grad(6, (1, 1), 1, small)
    x, w = np.ones((0, 1, 32, 32)), np.ones((6, 1, 5, 5))          # an empty batch: zero gradients
    gx, gw, gb = cpu.conv2d_backward(x, w, np.ones((0, 6, 28, 28)), (1, 1), (0, 0), (1, 1), 1)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gw, np.zeros(w.shape))
    np.testing.assert_array_equal(gb, np.zeros(6))


def _check_against_reference(dtype, problem, bias):
    x, w, b = conv_arrays(problem, dtype, bias=bias)
    args = conv_args(problem)
    y = cpu.conv2d_forward(x, w, b, *args)
    assert y.dtype == dtype
    assert y.shape[2:] == conv_output_size(x.shape[2:], w.shape[2:], *args[:3])
    np.testing.assert_allclose(y, reference.conv2d_forward(x, w, b, *args), **TOL[dtype])

    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    gx, gw, gb = cpu.conv2d_backward(x, w, gy, *args)
    assert gx.dtype == gw.dtype == gb.dtype == dtype
    np.testing.assert_allclose(gx, reference.conv2d_input_grad(gy, w, x.shape, *args), **TOL[dtype])
    np.testing.assert_allclose(gw, reference.conv2d_weight_grad(x, gy, w.shape, *args), **TOL[dtype])
    np.testing.assert_allclose(gb, reference.conv2d_bias_grad(gy), **TOL[dtype])
    np.testing.assert_array_equal(cpu.conv2d_input_grad(gy, w, x.shape, *args), gx)
    # conv2d_backward may take gb from the same product as gw (a row of ones below the columns):
    # the same sums, cut differently by BLAS
    np.testing.assert_allclose(cpu.conv2d_weight_grad(x, gy, w.shape, *args), gw, **TOL[dtype])
    np.testing.assert_allclose(cpu.conv2d_bias_grad(gy), gb, **TOL[dtype])


@given(problem=conv_problems(), width=st.integers(0, 24), per_image=st.sampled_from(LAYOUTS), data=st.data())
def test_wide_images_match_reference(problem, width, per_image, data):
    """Outputs 40 or more pixels wide: im2col's and col2im's row loops then run long enough for
    their vectorized bodies (8-16 floats a step), not only their scalar remainders."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (problem["w_shape"][2:], problem["stride"], problem["padding"],
                                              problem["dilation"])
    w_in = sw * (40 - 1 + width) + dw * (kw - 1) + 1 - 2 * pw
    problem = dict(problem, x_shape=(*problem["x_shape"][:3], w_in))
    assert conv_output_size(w_in, kw, sw, pw, dw) >= 40
    with layout(per_image):
        _check_against_reference(data.draw(st.sampled_from([np.float32, np.float64])), problem, True)


@pytest.mark.parametrize("per_image", LAYOUTS)
@given(n=st.integers(1, 3), groups=st.integers(1, 2), cg=st.integers(1, 3), og=st.integers(1, 3),
       hw=st.tuples(st.integers(1, 7), st.integers(1, 7)), dilation=st.integers(1, 2), bias=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_pointwise_convolutions_match_reference(per_image, n, groups, cg, og, hw, dilation, bias, dtype):
    """1x1 kernels with stride 1 and no padding: each block of images is itself the column matrix,
    and im2col/col2im copy it straight in and out."""
    problem = dict(x_shape=(n, groups * cg, *hw), w_shape=(groups * og, cg, 1, 1), stride=(1, 1),
                   padding=(0, 0), dilation=(dilation, dilation), groups=groups)
    with layout(per_image):
        _check_against_reference(dtype, problem, bias)
        _check_adjoints(problem)
        # an input larger than the output (conv_transpose2d's output_padding): not pointwise any more
        x, w, _ = conv_arrays(problem, np.float64)
        x_shape, args = (n, groups * cg, hw[0] + 1, hw[1] + 1), conv_args(problem)
        gy = np.random.default_rng(3).standard_normal((n, groups * og, *hw))
        np.testing.assert_allclose(cpu.conv2d_input_grad(gy, w, x_shape, *args),
                                   reference.conv2d_input_grad(gy, w, x_shape, *args), **TOL[np.float64])
        x = np.random.default_rng(4).standard_normal(x_shape)    # the last row and column see no window
        np.testing.assert_allclose(cpu.conv2d_weight_grad(x, gy, w.shape, *args),
                                   reference.conv2d_weight_grad(x[:, :, :hw[0], :hw[1]], gy, w.shape, *args),
                                   **TOL[np.float64])


@pytest.mark.parametrize("needs", [(a, b, c) for a in (False, True) for b in (False, True) for c in (False, True)])
@given(problem=conv_problems(), per_image=st.sampled_from(LAYOUTS))
def test_backward_computes_only_what_is_asked(needs, problem, per_image):
    """Each gradient asked for, and only those: gb comes from the weight gradient's product when
    both are asked for, and from its own sum otherwise."""
    x, w, _ = conv_arrays(problem, np.float64)
    args = conv_args(problem)
    gy = np.random.default_rng(1).standard_normal(cpu.conv2d_forward(x, w, None, *args).shape)
    with layout(per_image):
        grads = cpu.conv2d_backward(x, w, gy, *args, needs=needs)
    expected = (reference.conv2d_input_grad(gy, w, x.shape, *args),
                reference.conv2d_weight_grad(x, gy, w.shape, *args), reference.conv2d_bias_grad(gy))
    for need, grad, want in zip(needs, grads, expected):
        if need:
            np.testing.assert_allclose(grad, want, **TOL[np.float64])
        else:
            assert grad is None


@pytest.mark.parametrize("per_image", LAYOUTS)
@given(problem=conv_problems())
def test_adjoint_identities(per_image, problem):
    """<conv(x, w), y> = <x, input_grad(y, w)> = <w, weight_grad(x, y)>: the backward kernels are
    the transposes of the forward one, in x and in w."""
    with layout(per_image):
        _check_adjoints(problem)


@given(problem=winograd_problems())
def test_winograd_adjoint_identities(problem):
    """The same for Winograd: each of its transforms is replaced by its transpose in backward."""
    with winograd_from(1):
        _check_adjoints(problem)


def _check_adjoints(problem):
    x, w, _ = conv_arrays(problem, np.float64)
    args = conv_args(problem)
    y = cpu.conv2d_forward(x, w, None, *args)
    v = np.random.default_rng(2).standard_normal(y.shape)
    lhs = np.vdot(y, v)
    np.testing.assert_allclose(np.vdot(x, cpu.conv2d_input_grad(v, w, x.shape, *args)), lhs, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.vdot(w, cpu.conv2d_weight_grad(x, v, w.shape, *args)), lhs, rtol=1e-9, atol=1e-9)


def test_winograd_is_used_where_it_pays():
    """3x3, stride 1, undilated, one group and at least WINOGRAD_MIN_CHANNELS input channels."""
    c = conv_module.WINOGRAD_MIN_CHANNELS
    assert conv_module.uses_winograd((64, c, 3, 3), (1, 1), (1, 1), 1)
    assert not conv_module.uses_winograd((64, c - 1, 3, 3), (1, 1), (1, 1), 1)   # too few channels
    assert not conv_module.uses_winograd((64, c, 3, 3), (2, 2), (1, 1), 1)
    assert not conv_module.uses_winograd((64, c, 3, 3), (1, 1), (2, 2), 1)
    assert not conv_module.uses_winograd((64, c, 3, 3), (1, 1), (1, 1), 2)
    assert not conv_module.uses_winograd((64, c, 5, 5), (1, 1), (1, 1), 1)
    rng = np.random.default_rng(0)                # a VGG-like layer, with an odd size: half tiles
    x, w, b = rng.standard_normal((3, c, 9, 7)), rng.standard_normal((5, c, 3, 3)), rng.standard_normal(5)
    args = ((1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(cpu.conv2d_forward(x, w, b, *args), reference.conv2d_forward(x, w, b, *args),
                               rtol=1e-10, atol=1e-12)
    gy = rng.standard_normal((3, 5, 9, 7))
    gx, gw, gb = cpu.conv2d_backward(x, w, gy, *args)
    np.testing.assert_allclose(gx, reference.conv2d_input_grad(gy, w, x.shape, *args), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gw, reference.conv2d_weight_grad(x, gy, w.shape, *args), rtol=1e-10, atol=1e-12)


def test_winograd_is_accurate_in_float32():
    """Winograd's transforms add a little rounding: on a VGG-sized float32 layer it stays within
    a few float32 ulps of the float64 result, like im2col's."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((4, 64, 16, 16)), rng.standard_normal((32, 64, 3, 3)) / 24
    args = ((1, 1), (1, 1), (1, 1), 1)
    exact = reference.conv2d_forward(x, w, None, *args)
    assert conv_module.uses_winograd(w.shape, *args[0::2], 1)
    fast = cpu.conv2d_forward(x.astype(np.float32), w.astype(np.float32), None, *args)
    with winograd_from(10 ** 9):
        plain = cpu.conv2d_forward(x.astype(np.float32), w.astype(np.float32), None, *args)
    scale = np.abs(exact).max()
    assert np.abs(fast - exact).max() < 1e-5 * scale
    assert np.abs(fast - exact).max() < 4 * np.abs(plain - exact).max() + 1e-6 * scale


def algorithm_of(name):
    """Winograd for every eligible convolution ("winograd"), or one of the im2col LAYOUTS."""
    return winograd_from(1) if name == "winograd" else layout(name)


@pytest.mark.parametrize("algorithm", [*LAYOUTS, "winograd"])
@given(problem=st.one_of(conv_problems(), winograd_problems()), bias=st.booleans())
def test_chunks_and_threads_agree(algorithm, problem, bias):
    """One image per chunk on two worker threads gives the numbers of one chunk on the calling
    thread (up to the order of the weight gradient's sums over chunks)."""
    x, w, b = conv_arrays(problem, np.float64, bias=bias)
    args = conv_args(problem)
    results = []
    for threaded, size in ((False, 1 << 40), (True, 1)):
        with threaded_kernels(threaded), chunk_bytes(size), algorithm_of(algorithm):
            y = cpu.conv2d_forward(x, w, b, *args)
            results.append((y, *cpu.conv2d_backward(x, w, np.cos(y), *args)))
    for one_chunk, chunked in zip(*results):
        np.testing.assert_allclose(chunked, one_chunk, rtol=1e-12, atol=1e-12)


@contextlib.contextmanager
def uneven_chunks():
    """Chunks of 1, 2, 1, 2, ... images, so that most chunks are smaller or larger than another
    one the same thread's buffers (sized for the largest) served before."""
    def runs(n, bytes_per_image, workers):
        bounds = [0]
        while bounds[-1] < n:
            bounds.append(min(n, bounds[-1] + 1 + len(bounds) % 2))
        return list(zip(bounds[:-1], bounds[1:]))
    with mock.patch.object(chunks, "chunks", runs):
        yield


@pytest.mark.parametrize("algorithm", [*LAYOUTS, "winograd"])
@given(problem=st.one_of(conv_problems(), winograd_problems()), bias=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), threaded=st.booleans())
def test_chunks_of_different_sizes_match_reference(algorithm, problem, bias, dtype, threaded):
    problem = dict(problem, x_shape=(5, *problem["x_shape"][1:]))
    with uneven_chunks(), threaded_kernels(threaded), algorithm_of(algorithm):
        _check_against_reference(dtype, problem, bias)


@pytest.mark.parametrize("algorithm", [*LAYOUTS, "winograd"])
def test_threads_give_the_serial_numbers_exactly(algorithm):
    """With one image per chunk both ways, two threads taking chunks as they come give bit for bit
    the weight gradient of one thread: the chunks' results are added in chunk order."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((12, 16, 6, 6)), rng.standard_normal((8, 16, 3, 3))
    gy = rng.standard_normal((12, 8, 6, 6))
    args = ((1, 1), (1, 1), (1, 1), 1)
    results = []
    for threaded in (False, True, True, True):
        with threaded_kernels(threaded), chunk_bytes(1), algorithm_of(algorithm):
            results.append(cpu.conv2d_backward(x, w, gy, *args))
    for run in results[1:]:
        for serial, threaded in zip(results[0], run):
            np.testing.assert_array_equal(threaded, serial)


def python_loop(body, total=None):
    """A work(plan, go, images) for chunks.over_chunks that runs body(start, stop) for each chunk
    it takes, in Python rather than in a compiled loop (the same next_chunk and add_in_order), and
    adds body's results into ``total`` in chunk order when given."""
    def work(plan, go, images):
        index = -1
        while True:
            index, start, stop = chunks.next_chunk(plan, go, index)
            if index < 0:
                break
            part = body(start, stop)
            if total is not None:                 # chunk 0's part goes into total itself
                into = chunks.part_of(index, np.empty_like(total), total)
                into[...] = part
                chunks.add_in_order(plan, index, into, total)
    return work


ORDERED = [1e16, 1.0, -1e16, 1.0, 3.0, -2.5, 1e-3, 7.0] * 4
"""Parts whose float sum depends on the order they are added in (1e16 + 1 - 1e16 is 0, not 1)."""


def _sum_in_order(values):
    total = values[0]
    for v in values[1:]:
        total += v
    return total


def test_every_thread_gets_a_chunk_at_once():
    """Six threads each hold a chunk at the same time (none waits for another to finish first),
    and the sum comes out in chunk order."""
    plan = chunks.schedule([(i, i + 1) for i in range(12)])
    total = np.zeros(1)
    all_in = threading.Barrier(6, timeout=5)
    held = threading.local()

    def body(start, stop):
        if not getattr(held, "first", False):
            held.first = True
            all_in.wait()                         # times out if a thread is held back
        time.sleep(0.001 * (start % 3))           # chunks finish out of order
        return np.array([ORDERED[start]])

    workers = [threading.Thread(target=python_loop(body, total), args=(plan, chunks._NO_GO, 1))
               for _ in range(6)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert not all_in.broken
    assert total[0] == _sum_in_order(ORDERED[:12])


def test_the_threads_get_buffers_for_the_largest_chunk():
    seen = []

    def work(plan, go, images):
        seen.append(images)
        python_loop(lambda start, stop: None)(plan, go, images)

    with threaded_kernels(True), chunk_bytes(3):                    # 1 byte an image: 3 a chunk
        chunks.over_chunks(work, 10, 1, 1)
    assert seen and set(seen) == {3}                                # chunks of 2 and 3 images


def test_a_failing_chunk_stops_the_other_threads():
    """An error in one chunk reaches the caller, after the other threads have stopped (they do not
    wait for the failed chunk's result)."""
    calls = []

    def body(start, stop):
        calls.append(start)
        if start == 3:
            raise RuntimeError("chunk 3")
        return np.ones(2)

    with threaded_kernels(True), chunk_bytes(1), pytest.raises(RuntimeError, match="chunk 3"):
        chunks.over_chunks(python_loop(body, np.zeros(2)), 40, 1 << 20, 8)
    assert len(calls) < 40
    done = len(calls)
    time.sleep(0.05)
    assert len(calls) == done                                       # no chunk ran after the call
    total = np.zeros(2)
    with threaded_kernels(True), chunk_bytes(1):                    # and the next call works
        chunks.over_chunks(python_loop(lambda a, b: np.ones(2) * (b - a), total), 40, 1 << 20, 8)
    np.testing.assert_array_equal(total, [40, 40])


@given(n=st.integers(1, 200), per_image=st.integers(1, 3 * chunks.CHUNK_BYTES), workers=st.integers(1, 4))
def test_chunks_cover_the_batch(n, per_image, workers):
    runs = chunks.chunks(n, per_image, workers)
    assert runs[0][0] == 0 and runs[-1][1] == n
    assert all(stop == start for (_, stop), (start, _) in zip(runs, runs[1:]))    # in order, no gap
    sizes = [stop - start for start, stop in runs]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    assert max(sizes) == 1 or max(sizes) * per_image <= chunks.CHUNK_BYTES          # fits, or one image
    assert len(runs) % workers == 0 or len(runs) == n                              # shared evenly


def test_chunks_examples():
    assert chunks.chunks(10, chunks.CHUNK_BYTES // 3, 1) == [(0, 2), (2, 5), (5, 7), (7, 10)]
    assert chunks.chunks(10, 1, 2) == [(0, 5), (5, 10)]            # one chunk per worker
    assert chunks.chunks(64, chunks.CHUNK_BYTES // 28, 2) == [(0, 16), (16, 32), (32, 48), (48, 64)]
    assert chunks.chunks(3, 10 * chunks.CHUNK_BYTES, 4) == [(0, 1), (1, 2), (2, 3)]   # one image at least
    assert chunks.chunks(64, 0, 1) == [(0, 64)]                     # no intermediates (pooling)
    assert chunks.chunks(64, 0, 2) == [(0, 32), (32, 64)]


def test_work_per_image_decides_the_threads_apart_from_the_chunk_size():
    """Pooling: no intermediates, so one chunk per thread, but enough work to use the threads."""
    seen = []
    work = python_loop(lambda start, stop: seen.append((start, stop)))
    with mock.patch.object(numba, "get_num_threads", return_value=2), \
            mock.patch.object(chunks, "PARALLEL_MIN_WORK", 100):
        chunks.over_chunks(work, 4, 0, 4, work_per_image=10)         # 40 entries: one thread
        assert seen == [(0, 4)]
        seen.clear()
        chunks.over_chunks(work, 4, 0, 4, work_per_image=50)         # 200 entries: two
        assert sorted(seen) == [(0, 2), (2, 4)]


def test_one_thread_runs_the_chunks_in_order_on_the_calling_thread():
    """One thread: every chunk in turn on the calling thread, their results added in order."""
    seen = []

    def body(start, stop):
        seen.append((start, stop, threading.get_ident()))
        return np.array([float(start)])

    total = np.zeros(1)
    with mock.patch.object(numba, "get_num_threads", return_value=1), chunk_bytes(1):
        chunks.over_chunks(python_loop(body, total), 5, 1 << 20, 4)
    np.testing.assert_array_equal(total, [0.0 + 1.0 + 2.0 + 3.0 + 4.0])
    assert [(a, b) for a, b, _ in seen] == [(i, i + 1) for i in range(5)]
    assert {ident for _, _, ident in seen} == {threading.get_ident()}


def test_the_sum_is_added_in_chunk_order():
    """Parts whose float sum depends on the order (1e16 + 1 - 1e16): the same result on one
    thread and on two, in every run, whichever thread finishes first."""
    names = set()

    def body(start, stop):
        names.add(threading.current_thread().name)
        worker = threading.current_thread() is not threading.main_thread()
        time.sleep(0.002 if worker else 0.001)    # long enough for a worker to join in, and its
                                                  # chunks finish late
        return np.array([ORDERED[start]])

    assert _sum_in_order(ORDERED) != sum(sorted(ORDERED))      # the order shows in the sum
    for threaded in (False, True, True, True):
        total = np.zeros(1)
        with threaded_kernels(threaded), chunk_bytes(1):
            chunks.over_chunks(python_loop(body, total), len(ORDERED), 1 << 20, 8)
        assert total[0] == _sum_in_order(ORDERED)
    assert any(name.startswith("minicnn-worker") for name in names)       # the workers took some


def test_known_values():
    """A 3x3 box filter with padding 1 counts each pixel's in-bounds neighbours."""
    x = np.ones((1, 1, 3, 4))
    w = np.ones((1, 1, 3, 3))
    y = cpu.conv2d_forward(x, w, np.array([0.5]), (1, 1), (1, 1), (1, 1), 1)
    np.testing.assert_array_equal(y[0, 0], [[4.5, 6.5, 6.5, 4.5], [6.5, 9.5, 9.5, 6.5], [4.5, 6.5, 6.5, 4.5]])


def test_depthwise_is_per_channel():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 7, 6))
    w = rng.standard_normal((4, 1, 3, 3))
    y = cpu.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 4)
    for c in range(4):
        alone = cpu.conv2d_forward(x[:, c:c + 1], w[c:c + 1], None, (1, 1), (1, 1), (1, 1), 1)
        np.testing.assert_allclose(y[:, c:c + 1], alone, rtol=1e-12)


def test_non_contiguous_inputs_are_accepted():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3, 2, 8)).transpose(2, 1, 3, 0)     # (2, 3, 8, 5), not contiguous
    w = rng.standard_normal((4, 3, 2, 2))
    np.testing.assert_allclose(cpu.conv2d_forward(x, w, None, (1, 1), (0, 0), (1, 1), 1),
                               reference.conv2d_forward(x, w, None, (1, 1), (0, 0), (1, 1), 1), rtol=1e-12)


@given(n_in=st.integers(1, 64), k=st.integers(1, 9), s=st.integers(1, 4), p=st.integers(0, 4),
       d=st.integers(1, 3))
def test_conv_output_size_rule(n_in, k, s, p, d):
    span = n_in + 2 * p - d * (k - 1) - 1
    if span < 0:
        with pytest.raises(ValueError, match="n_out = floor"):
            conv_output_size(n_in, k, s, p, d)
    else:
        n_out = conv_output_size(n_in, k, s, p, d)
        assert n_out == span // s + 1 >= 1
        if d == 1:
            assert n_out == (n_in + 2 * p - k) // s + 1        # the lecture's rule
        # the last window fits in the padded input, one more would not
        assert (n_out - 1) * s + d * (k - 1) + 1 <= n_in + 2 * p < n_out * s + d * (k - 1) + 1


def test_conv_output_size_examples_and_pairs():
    assert conv_output_size(32, 5) == 28                         # LeNet-5 C1
    assert conv_output_size(224, 11, 4, 2) == 55                 # AlexNet conv1
    assert conv_output_size((32, 28), (5, 3), padding=(1, 0)) == (30, 26)
    with pytest.raises(ValueError, match=r"3 \+ 2\*0 = 3"):
        conv_output_size(3, 5)
    with pytest.raises(TypeError):
        pair(1.5, "stride")


@given(n_in=st.integers(1, 40), k=st.integers(1, 6), s=st.integers(1, 4), d=st.integers(1, 2),
       data=st.data())
def test_pool_output_size_ceil_mode(n_in, k, s, d, data):
    p = data.draw(st.integers(0, k // 2))
    if n_in + 2 * p < d * (k - 1) + 1:
        return
    floor_out = pool_output_size(n_in, k, s, p, d, ceil_mode=False)
    ceil_out = pool_output_size(n_in, k, s, p, d, ceil_mode=True)
    assert floor_out <= ceil_out <= floor_out + 1
    assert (ceil_out - 1) * s < n_in + p                         # the last window starts in the input
    if n_in >= k:                                                 # stride defaults to the kernel size
        assert pool_output_size(n_in, k) == conv_output_size(n_in, k, k)


def test_same_padding():
    assert same_padding(3) == (1, 1)
    assert same_padding(4) == (1, 2)
    assert same_padding(3, dilation=2) == (2, 2)


def test_worker_threads_work_in_a_forked_child():
    """A process forked after the workers started (multiprocessing's default on Linux) makes its own."""
    import multiprocessing
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    x, w = np.ones((8, 2, 12, 12)), np.ones((3, 2, 3, 3))
    args = ((1, 1), (1, 1), (1, 1), 1)
    with threaded_kernels(True), chunk_bytes(1):
        expected = cpu.conv2d_forward(x, w, None, *args)             # starts the workers here
        with multiprocessing.get_context("fork").Pool(1) as pool:
            in_child = pool.apply_async(_conv_in_child, (x, w, args)).get(timeout=60)
    np.testing.assert_array_equal(in_child, expected)


def _conv_in_child(x, w, args):
    with threaded_kernels(True), chunk_bytes(1):
        return cpu.conv2d_forward(x, w, None, *args)


def test_release_buffers_stops_the_workers():
    x, w = np.ones((8, 2, 12, 12)), np.ones((3, 2, 3, 3))
    args = ((1, 1), (1, 1), (1, 1), 1)
    with threaded_kernels(True), chunk_bytes(1):
        expected = cpu.conv2d_forward(x, w, None, *args)
        assert chunks._pool is not None
        cpu.release_buffers()
        assert chunks._pool is None
        np.testing.assert_array_equal(cpu.conv2d_forward(x, w, None, *args), expected)   # back again


@pytest.mark.parametrize("shape, dtype", [(7, np.float32), ((3, 5, 2), np.float64), ((0, 4), np.float32)])
def test_aligned_empty_starts_a_cache_line(shape, dtype):
    for _ in range(5):                            # whatever address np.empty gives underneath
        a = aligned_empty(shape, dtype)
        assert a.shape == ((shape,) if isinstance(shape, int) else shape) and a.dtype == dtype
        assert a.flags.c_contiguous and a.flags.writeable
        if a.size:
            assert a.ctypes.data % CACHE_LINE == 0
            a[...] = 1                            # the whole view is memory of its own
            assert a.sum() == a.size


@pytest.mark.parametrize("winograd", [False, True])
def test_the_scratch_buffers_and_outputs_start_a_cache_line(winograd):
    x, w = np.ones((4, 12, 9, 9), np.float32), np.ones((5, 12, 3, 3), np.float32)
    args = ((1, 1), (1, 1), (1, 1), 1)
    with winograd_from(1 if winograd else 10 ** 9):
        y = cpu.conv2d_forward(x, w, None, *args)
        gx = cpu.conv2d_backward(x, w, y, *args)[0]
    buffers = conv_module._scratch._local.__dict__["buffers"]
    assert buffers and all(b.ctypes.data % CACHE_LINE == 0 for b in buffers.values())
    assert y.ctypes.data % CACHE_LINE == 0 and gx.ctypes.data % CACHE_LINE == 0


@pytest.mark.parametrize("winograd", [False, True])
def test_an_empty_batch_gives_empty_outputs_and_zero_weight_gradients(winograd):
    x, w, b = np.ones((0, 3, 6, 6)), np.ones((4, 3, 3, 3)), np.ones(4)
    args = ((1, 1), (1, 1), (1, 1), 1)
    with winograd_from(1 if winograd else 10 ** 9):
        y = cpu.conv2d_forward(x, w, b, *args)
        assert y.shape == reference.conv2d_forward(x, w, b, *args).shape == (0, 4, 6, 6)
        gx, gw, gb = cpu.conv2d_backward(x, w, y, *args)
    assert gx.shape == x.shape
    np.testing.assert_array_equal(gw, np.zeros(w.shape))
    np.testing.assert_array_equal(gb, np.zeros(4))


def test_concurrent_convolutions_leave_blas_threads_as_they_were():
    """Two user threads convolving at once: BLAS is on one thread while either runs and back to
    its own count after both (the limit is the process's, not a thread's)."""
    import threading

    import threadpoolctl
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    before = [lib["num_threads"] for lib in blas.info()]
    x, w = np.ones((16, 2, 12, 12)), np.ones((3, 2, 3, 3))
    args = ((1, 1), (1, 1), (1, 1), 1)
    expected = reference.conv2d_forward(x, w, None, *args)
    errors = []

    def convolve():
        old = numba.get_num_threads()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        try:
            for _ in range(100):
                np.testing.assert_allclose(cpu.conv2d_forward(x, w, None, *args), expected, rtol=1e-12)
        except Exception as error:                  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            numba.set_num_threads(old)

    with mock.patch.object(chunks, "PARALLEL_MIN_WORK", 0), chunk_bytes(1):
        workers = [threading.Thread(target=convolve) for _ in range(3)]
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    assert not errors
    assert [lib["num_threads"] for lib in blas.info()] == before


def test_workers_that_went_to_sleep_wake_for_the_next_job():
    """A worker that found no job for SPIN_ROUNDS rounds sleeps; a later call wakes it, and it
    takes chunks again (the sums stay those of the chunks in order)."""
    seen = set()

    def body(start, stop):
        seen.add(threading.current_thread().name)
        time.sleep(0.002)                                 # long enough for a worker to join in
        return np.array([float(start)])

    with threaded_kernels(True), chunk_bytes(1), mock.patch.object(chunks, "SPIN_ROUNDS", 1):
        for _ in range(5):
            total = np.zeros(1)
            chunks.over_chunks(python_loop(body, total), 40, 1 << 20, 8)
            np.testing.assert_array_equal(total, [sum(range(40))])
            time.sleep(0.01)                              # long enough to fall asleep
    assert any(name.startswith("minicnn-worker") for name in seen)


def test_a_call_returns_once_its_workers_have_left_it():
    """The call returns only once no thread counts itself in it (BUSY 0), a worker included, even
    one slow to return from its work after its last chunk: a worker leaves in compiled code
    (chunks._leave_and_wait), and runs no Python of the call after it returned."""
    plans, worker_took = [], []

    def body(start, stop):
        if threading.current_thread() is not threading.main_thread():
            worker_took.append(start)
        time.sleep(0.001)
        return np.ones(1)

    def work(plan, go, images):
        python_loop(body, np.zeros(1))(plan, go, images)
        if threading.current_thread() is not threading.main_thread():
            time.sleep(0.005)                     # still in the call after the last chunk

    original = chunks.schedule

    def recorded(runs):
        plans.append(original(runs))
        return plans[-1]

    with threaded_kernels(True), chunk_bytes(1), mock.patch.object(chunks, "schedule", recorded):
        for _ in range(5):
            chunks.over_chunks(work, 16, 1 << 20, 8)
            assert chunks.spin.load(plans[-1], chunks._BUSY) == 0
            assert chunks.spin.load(plans[-1], chunks._FINISHED) == 16
    assert worker_took


def test_the_calling_thread_publishes_the_job():
    """The calling thread's work gets go = (flags, 0, job number), which its first next_chunk
    publishes; the workers get a go that publishes nothing."""
    gos = []

    def work(plan, go, images):
        gos.append((threading.current_thread() is threading.main_thread(), go[2]))
        index, start, stop = chunks.next_chunk(plan, go, -1)
        if go[2]:
            assert go[0][go[1]] == go[2]              # published
        while index >= 0:
            time.sleep(0.001)
            index, start, stop = chunks.next_chunk(plan, go, index)

    with threaded_kernels(True), chunk_bytes(1):
        for _ in range(3):
            gos.clear()
            chunks.over_chunks(work, 8, 1 << 20, 8)
            assert [value > 0 for is_main, value in gos if is_main] == [True]
            assert not any(value for is_main, value in gos if not is_main)


def test_a_workers_error_is_raised_after_every_chunk_has_stopped():
    running = []

    def body(start, stop):
        running.append(start)
        time.sleep(0.002)
        if threading.current_thread() is not threading.main_thread():
            raise ValueError("in a worker")
        running.remove(start)
        return np.ones(1)

    with threaded_kernels(True), chunk_bytes(1):
        with pytest.raises(ValueError, match="in a worker"):
            chunks.over_chunks(python_loop(body, np.zeros(1)), 40, 1 << 20, 8)
        left = list(running)
        time.sleep(0.02)
        assert running == left                            # nothing ran after the call
        total = np.zeros(1)
        chunks.over_chunks(python_loop(lambda a, b: np.ones(1), total), 40, 1 << 20, 8)
        np.testing.assert_array_equal(total, [40])


def test_a_call_that_fails_before_its_first_chunk_still_publishes_its_job():
    """The calling thread's first chunk publishes the job's number (go); if its work raises before
    that, the call publishes it on the way out: else the workers, which find the job posted, would
    never see its number and spin on without sleeping."""
    def work(plan, go, images):
        if go[2]:
            raise ValueError("before any chunk")
        python_loop(lambda start, stop: None)(plan, go, images)

    with threaded_kernels(True), chunk_bytes(1):
        with pytest.raises(ValueError, match="before any chunk"):
            chunks.over_chunks(work, 8, 1 << 20, 8)
        pool = chunks._pool
        assert pool._flags[0] == pool._job[0]
        total = np.zeros(1)                                 # and the next call works
        chunks.over_chunks(python_loop(lambda a, b: np.ones(1), total), 8, 1 << 20, 8)
        np.testing.assert_array_equal(total, [8])


def test_the_worker_pool_is_kept_across_batch_sizes():
    x, w = np.ones((8, 2, 12, 12)), np.ones((3, 2, 3, 3))
    args = ((1, 1), (1, 1), (1, 1), 1)
    with threaded_kernels(True), chunk_bytes(1):
        cpu.conv2d_forward(x, w, None, *args)
        pool = chunks._pool
        for n in (2, 8, 3, 1, 8):
            cpu.conv2d_forward(x[:n], w, None, *args)
        assert chunks._pool is pool
