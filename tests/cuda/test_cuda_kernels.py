"""The numba.cuda kernels against the CPU kernels (and NumPy / the NumPy optimizers where the CPU has
no kernel), on a GPU when one is present, else under Numba's CUDA simulator.

The simulator runs every GPU thread as a Python thread, so shapes are tiny (N <= 2, C <= 4, H, W <= 6,
kernels <= 3); they still cover stride, padding, dilation, groups, ceil_mode, ties and NaNs.
"""
import inspect
import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

cuda = pytest.importorskip("numba.cuda")
if not cuda.is_available():
    pytest.skip("no CUDA GPU, and NUMBA_ENABLE_CUDASIM is off", allow_module_level=True)

import minicnn                                                       # noqa: E402
from minicnn.kernels import backend, cpu                             # noqa: E402
from minicnn.kernels import cuda as gpu                              # noqa: E402

pytestmark = pytest.mark.cuda
SIMULATED = bool(cuda.config.ENABLE_CUDASIM)
ROOT = Path(__file__).resolve().parents[2]
TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}


def dev(a):
    return cuda.to_device(np.ascontiguousarray(a))


def host(a):
    assert backend.is_device_array(a), f"expected a device array, got {type(a).__name__}"
    return a.copy_to_host()


def rand(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


ON_BOTH = ["conv2d_forward", "conv2d_backward", "conv2d_input_grad", "conv2d_weight_grad", "conv2d_bias_grad",
           "release_buffers", "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
           "avg_pool2d_backward", "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
           "adaptive_max_pool2d_forward", "adaptive_max_pool2d_backward", "batch_norm_stats",
           "batch_norm_forward", "batch_norm_backward", "local_response_norm_forward",
           "local_response_norm_backward"]


def test_same_public_names_and_signatures_as_cpu():
    for name in ON_BOTH:
        assert hasattr(gpu, name), f"minicnn.kernels.cuda lacks {name}"
    for name in dir(cpu):
        cpu_fn = getattr(cpu, name)
        if name.startswith("_") or inspect.ismodule(cpu_fn) or not callable(cpu_fn):
            continue
        if not hasattr(gpu, name):               # a CPU kernel newer than this list
            warnings.warn(f"minicnn.kernels.cpu.{name} has no GPU version in minicnn.kernels.cuda yet")
            continue
        assert inspect.signature(getattr(gpu, name)) == inspect.signature(cpu_fn), name


# ---------------------------------------------------------------------------------- convolution
# x shape, w shape, (stride, padding, dilation, groups), dtype, bias
CONV_CASES = {
    "plain": ((2, 3, 5, 5), (4, 3, 3, 3), ((1, 1), (0, 0), (1, 1), 1), np.float32, True),
    "stride2 pad1": ((2, 2, 6, 5), (3, 2, 3, 3), ((2, 2), (1, 1), (1, 1), 1), np.float32, True),
    "dilation2 pad2 no bias": ((1, 2, 5, 6), (2, 2, 3, 2), ((1, 1), (2, 1), (2, 2), 1), np.float32, False),
    "groups3 depthwise": ((2, 3, 5, 4), (3, 1, 2, 2), ((1, 2), (1, 0), (1, 1), 3), np.float64, True),
    "groups2 rect": ((1, 4, 6, 5), (4, 2, 3, 1), ((2, 1), (0, 1), (1, 2), 2), np.float64, True),
}


def check_conv(x_shape, w_shape, args, dtype, bias):
    x, w = rand(x_shape, dtype, 1), rand(w_shape, dtype, 2)
    b = rand(w_shape[0], dtype, 3) if bias else None
    y = gpu.conv2d_forward(dev(x), dev(w), None if b is None else dev(b), *args)
    y_cpu = cpu.conv2d_forward(x, w, b, *args)
    assert y.dtype == dtype and tuple(y.shape) == y_cpu.shape
    np.testing.assert_allclose(host(y), y_cpu, **TOL[dtype])

    gy = rand(y_cpu.shape, dtype, 4)
    grads = gpu.conv2d_backward(dev(x), dev(w), dev(gy), *args)
    for got, want in zip(grads, cpu.conv2d_backward(x, w, gy, *args)):
        assert got.dtype == dtype
        np.testing.assert_allclose(host(got), want, **TOL[dtype])
    return x, w, gy, grads


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_conv2d_matches_cpu(case):
    check_conv(*case)


def test_conv2d_single_gradients_and_needs():
    x, w, gy, (gx, gw, gb) = check_conv(*CONV_CASES["stride2 pad1"])
    args = CONV_CASES["stride2 pad1"][2]
    np.testing.assert_allclose(host(gpu.conv2d_input_grad(dev(gy), dev(w), x.shape, *args)), host(gx), 1e-6)
    np.testing.assert_allclose(host(gpu.conv2d_weight_grad(dev(x), dev(gy), w.shape, *args)), host(gw), 1e-6)
    np.testing.assert_allclose(host(gpu.conv2d_bias_grad(dev(gy))), host(gb), 1e-6)
    only_w = gpu.conv2d_backward(dev(x), dev(w), dev(gy), *args, needs=(False, True, False))
    assert only_w[0] is None and only_w[2] is None
    np.testing.assert_allclose(host(only_w[1]), host(gw), 1e-6)


def test_conv2d_takes_numpy_arguments_and_casts_them_to_the_input_dtype():
    x, w, b = rand((1, 2, 4, 4), np.float32), rand((2, 2, 2, 2), np.float64), rand(2, np.float64)
    y = gpu.conv2d_forward(dev(x), w, b, (1, 1), (0, 0), (1, 1), 1)      # w, b: NumPy float64
    assert y.dtype == np.float32
    np.testing.assert_allclose(host(y), cpu.conv2d_forward(x, w, b, (1, 1), (0, 0), (1, 1), 1), 1e-5)
    gpu.release_buffers()


@st.composite
def small_conv_problems(draw):
    """Random valid convolutions small enough for the simulator."""
    groups, cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel, stride, padding, dilation = ((draw(st.integers(lo, hi)), draw(st.integers(lo, hi)))
                                         for lo, hi in ((1, 3), (1, 2), (0, 1), (1, 2)))
    hw = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 2))
               for k, p, d in zip(kernel, padding, dilation))
    return ((draw(st.integers(1, 2)), groups * cg, *hw), (groups * og, cg, *kernel),
            (stride, padding, dilation, groups), draw(st.sampled_from([np.float32, np.float64])),
            draw(st.booleans()))


@settings(max_examples=3 if SIMULATED else 40)
@given(problem=small_conv_problems())
def test_conv2d_matches_cpu_on_random_problems(problem):
    check_conv(*problem)


# ---------------------------------------------------------------------------------------- matmul
@pytest.mark.parametrize("m, k, n, batch, trans_a, trans_b, k_splits, dtype", [
    (5, 7, 6, None, False, False, None, np.float32),
    (5, 9, 6, 2, True, False, None, np.float32),
    (6, 11, 5, None, False, True, 3, np.float32),        # split-K: partial sums added atomically
    (3, 13, 2, 2, True, True, 2, np.float64),
    (4, 0, 3, None, False, False, None, np.float32),     # an empty reduction gives zeros
])
def test_matmul_matches_numpy(m, k, n, batch, trans_a, trans_b, k_splits, dtype):
    lead = () if batch is None else (batch,)
    a = rand(lead + ((k, m) if trans_a else (m, k)), dtype, 1)
    b = rand(lead + ((n, k) if trans_b else (k, n)), dtype, 2)
    out = gpu.matmul(dev(a), dev(b), trans_a=trans_a, trans_b=trans_b, k_splits=k_splits)
    want = (np.swapaxes(a, -1, -2) if trans_a else a) @ (np.swapaxes(b, -1, -2) if trans_b else b)
    np.testing.assert_allclose(host(out), want, **TOL[dtype])


def test_matmul_explains_a_shape_mismatch():
    with pytest.raises(ValueError, match="inner dimensions"):
        gpu.matmul(dev(np.ones((2, 3), np.float32)), dev(np.ones((2, 3), np.float32)))


# --------------------------------------------------------------------------------------- pooling
def pool_input(dtype=np.float32):
    """(2, 2, 6, 5) with ties (a row of equal maxima) and a NaN, which must win its windows."""
    x = rand((2, 2, 6, 5), dtype, 5)
    x[0, 0, 0, :3] = 4.0
    x[1, 1, 3, 2] = np.nan
    return x


# kernel, stride, padding, dilation, ceil_mode
@pytest.mark.parametrize("args", [
    ((2, 2), (2, 2), (0, 0), (1, 1), False),
    ((3, 3), (2, 2), (1, 1), (1, 1), True),
    ((3, 2), (1, 2), (1, 1), (2, 1), False),
    ((2, 3), (3, 2), (1, 1), (1, 1), True),
], ids=["k2s2", "k3s2p1 ceil", "dilated rect", "rect ceil"])
def test_max_pool2d_matches_cpu(args):
    x = pool_input()
    y, idx = gpu.max_pool2d_forward(dev(x), *args)
    y_cpu, idx_cpu = cpu.max_pool2d_forward(x, *args)
    np.testing.assert_array_equal(host(y), y_cpu)                   # NaNs in the same places
    np.testing.assert_array_equal(host(idx), idx_cpu)               # ties: the same (first) position
    gy = rand(y_cpu.shape, np.float32, 6)
    np.testing.assert_allclose(host(gpu.max_pool2d_backward(dev(gy), idx, x.shape)),
                               cpu.max_pool2d_backward(gy, idx_cpu, x.shape), 1e-6)


def test_max_pool2d_window_of_padding_only():
    """A dilated window that sees only padding gives -inf and index -1, and no gradient."""
    x = rand((1, 1, 2, 2), np.float64)
    args = ((2, 2), (1, 1), (1, 1), (3, 3), False)
    y, idx = gpu.max_pool2d_forward(dev(x), *args)
    y_cpu, idx_cpu = cpu.max_pool2d_forward(x, *args)
    assert (idx_cpu == -1).any()
    np.testing.assert_array_equal(host(y), y_cpu)
    np.testing.assert_array_equal(host(idx), idx_cpu)
    gy = np.ones(y_cpu.shape)
    np.testing.assert_array_equal(host(gpu.max_pool2d_backward(gy, host(idx), x.shape)),
                                  cpu.max_pool2d_backward(gy, idx_cpu, x.shape))


# kernel, stride, padding, ceil_mode, count_include_pad, divisor_override
@pytest.mark.parametrize("args", [
    ((2, 2), (2, 2), (0, 0), False, True, None),
    ((3, 3), (2, 2), (1, 1), True, True, None),
    ((3, 3), (2, 2), (1, 1), True, False, None),
    ((3, 2), (2, 1), (1, 1), False, True, 5),
], ids=["k2s2", "ceil with pad", "ceil without pad", "divisor override"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_avg_pool2d_matches_cpu(args, dtype):
    x = rand((2, 2, 6, 5), dtype, 7)
    y_cpu = cpu.avg_pool2d_forward(x, *args)
    np.testing.assert_allclose(host(gpu.avg_pool2d_forward(dev(x), *args)), y_cpu, **TOL[dtype])
    gy = rand(y_cpu.shape, dtype, 8)
    np.testing.assert_allclose(host(gpu.avg_pool2d_backward(dev(gy), x.shape, *args)),
                               cpu.avg_pool2d_backward(gy, x.shape, *args), **TOL[dtype])


@pytest.mark.parametrize("output_size", [(1, 1), (4, 3), (6, 5)])
def test_adaptive_pool2d_matches_cpu(output_size):
    x = pool_input()
    y_cpu = cpu.adaptive_avg_pool2d_forward(x, output_size)
    np.testing.assert_allclose(host(gpu.adaptive_avg_pool2d_forward(dev(x), output_size)), y_cpu, 1e-6)
    gy = rand(y_cpu.shape, np.float32, 9)
    np.testing.assert_allclose(host(gpu.adaptive_avg_pool2d_backward(dev(gy), x.shape)),
                               cpu.adaptive_avg_pool2d_backward(gy, x.shape), 1e-6)
    y, idx = gpu.adaptive_max_pool2d_forward(dev(x), output_size)
    y_cpu, idx_cpu = cpu.adaptive_max_pool2d_forward(x, output_size)
    np.testing.assert_array_equal(host(y), y_cpu)
    np.testing.assert_array_equal(host(idx), idx_cpu)
    np.testing.assert_allclose(host(gpu.adaptive_max_pool2d_backward(dev(gy), idx, x.shape)),
                               cpu.adaptive_max_pool2d_backward(gy, idx_cpu, x.shape), 1e-6)


# ------------------------------------------------------------------------------------ batch norm
@pytest.mark.parametrize("shape, dtype", [((3, 4, 2, 3), np.float32), ((5, 3), np.float64)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_cpu(shape, dtype, training):
    x = rand(shape, dtype, 10) * 3 + 1
    mean, var = gpu.batch_norm_stats(dev(x))
    mean_cpu, var_cpu = cpu.batch_norm_stats(x)
    assert mean.dtype == var.dtype == np.float64
    np.testing.assert_allclose(host(mean), mean_cpu, 1e-12, 1e-12)
    np.testing.assert_allclose(host(var), var_cpu, 1e-12, 1e-12)
    invstd = 1 / np.sqrt(var_cpu + 1e-5)
    w, b, gy = rand(shape[1], dtype, 11), rand(shape[1], dtype, 12), rand(shape, dtype, 13)
    np.testing.assert_allclose(host(gpu.batch_norm_forward(dev(x), mean_cpu, invstd, w, b)),
                               cpu.batch_norm_forward(x, mean_cpu, invstd, w, b), **TOL[dtype])
    got = gpu.batch_norm_backward(dev(gy), dev(x), mean_cpu, invstd, w, training)
    for g, want in zip(got, cpu.batch_norm_backward(gy, x, mean_cpu, invstd, w, training)):
        assert g.dtype == dtype
        np.testing.assert_allclose(host(g), want, **TOL[dtype])


@pytest.mark.parametrize("size, dtype", [(3, np.float32), (4, np.float64)])
def test_local_response_norm_matches_cpu(size, dtype):
    x, gy = rand((2, 5, 2, 3), dtype, 25), rand((2, 5, 2, 3), dtype, 26)
    y, d = gpu.local_response_norm_forward(dev(x), size, 1e-2, 0.75, 2.0)
    y_cpu, d_cpu = cpu.local_response_norm_forward(x, size, 1e-2, 0.75, 2.0)
    np.testing.assert_allclose(host(y), y_cpu, **TOL[dtype])
    np.testing.assert_allclose(host(d), d_cpu, **TOL[dtype])
    np.testing.assert_allclose(host(gpu.local_response_norm_backward(dev(gy), dev(x), d, size, 1e-2, 0.75)),
                               cpu.local_response_norm_backward(gy, x, d_cpu, size, 1e-2, 0.75), **TOL[dtype])


# -------------------------------------------------------------------------------- element-wise
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_match_numpy(dtype):
    x = np.array([[-800.0, -3.0, -0.5, 0.0], [0.25, 2.0, 800.0, np.nan]], dtype)
    gy = rand(x.shape, dtype, 14)
    with np.errstate(over="ignore"):
        sigmoid = 1 / (1 + np.exp(-x.astype(np.float64)))
    cases = [(gpu.relu_forward, np.maximum(x, 0), gpu.relu_backward, x, gy * (x > 0)),
             (gpu.tanh_forward, np.tanh(x), gpu.tanh_backward, np.tanh(x), gy * (1 - np.tanh(x) ** 2)),
             (gpu.sigmoid_forward, sigmoid, gpu.sigmoid_backward, sigmoid, gy * sigmoid * (1 - sigmoid))]
    for forward, y, backward, saved, gx in cases:
        got = forward(dev(x))
        assert got.dtype == dtype
        np.testing.assert_allclose(host(got), y, rtol=1e-6)
        np.testing.assert_allclose(host(backward(dev(gy), dev(saved.astype(dtype)))), gx, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2, 2)])
def test_bias_add_broadcasts_over_axis_1(shape):
    x, b = rand(shape, np.float32, 15), rand(shape[1], np.float32, 16)
    np.testing.assert_allclose(host(gpu.bias_add(dev(x), dev(b))),
                               x + b.reshape(-1, *(1,) * (len(shape) - 2)), 1e-6)
    with pytest.raises(ValueError, match="bias"):
        gpu.bias_add(dev(x), dev(np.ones(7, np.float32)))


def run_optimizer(make_optimizer, p0, grads):
    """p after one NumPy optimizer step per gradient (minicnn.optim, the reference)."""
    p = minicnn.nn.Parameter(p0.copy())
    opt = make_optimizer([p])
    for g in grads:
        p.grad = minicnn.Tensor(g.copy())
        opt.step()
    return p.data


@pytest.mark.parametrize("options", [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9, weight_decay=0.01),
    dict(lr=0.05, momentum=0.8, dampening=0.3, maximize=True),
    dict(lr=0.1, momentum=0.9, nesterov=True),
])
def test_sgd_update_matches_minicnn_optim(options):
    p0, grads = rand((3, 4), np.float32, 17), [rand((3, 4), np.float32, s) for s in (18, 19, 20)]
    p, buf = dev(p0), dev(np.zeros_like(p0))
    sgd = {k: v for k, v in options.items()}
    for step, g in enumerate(grads):
        gpu.sgd_update(p, dev(g), buf if options.get("momentum") else None, first_step=step == 0, **sgd)
    want = run_optimizer(lambda ps: minicnn.optim.SGD(ps, **options), p0, grads)
    np.testing.assert_allclose(host(p), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options", [
    dict(lr=0.01),
    dict(lr=0.01, weight_decay=0.1, amsgrad=True),
    dict(lr=0.02, betas=(0.8, 0.99), weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
])
def test_adam_update_matches_minicnn_optim(options):
    p0, grads = rand(7, np.float32, 21), [rand(7, np.float32, s) for s in (22, 23, 24)]
    p, m, v, v_max = (dev(a) for a in (p0, np.zeros(7, np.float32), np.zeros(7, np.float32),
                                        np.zeros(7, np.float32)))
    kwargs = {k: val for k, val in options.items() if k != "amsgrad"}
    for step, g in enumerate(grads, start=1):
        gpu.adam_update(p, dev(g), m, v, step, max_exp_avg_sq=v_max if options.get("amsgrad") else None,
                        **kwargs)
    want = run_optimizer(lambda ps: minicnn.optim.Adam(ps, **options), p0, grads)
    np.testing.assert_allclose(host(p), want, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------------------- backend
def test_backend_picks_the_kernels_by_array_type():
    x = np.ones((2, 3), np.float32)
    assert backend.kernels_for(x) is cpu
    d = backend.to_device(x)
    assert backend.kernels_for(d) is gpu and backend.to_device(d) is d
    np.testing.assert_array_equal(backend.to_host(d), x)
    assert backend.to_host(x) is x
    assert backend.cuda_available() and backend.cuda_simulated() == SIMULATED
    with pytest.raises(TypeError, match="NumPy array"):
        backend.kernels_for([1.0, 2.0])


def run_python(code, **env):
    """Run ``code`` in a fresh interpreter from the repository root; returns its stdout."""
    environ = {k: v for k, v in os.environ.items() if k not in env}
    environ.update({k: v for k, v in env.items() if v is not None})
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_backend_imports_without_numba_cuda():
    out = run_python("""
        import sys
        class NoCuda:                              # numba.cuda cannot be imported in this process
            def find_spec(self, name, path=None, target=None):
                if name.startswith("numba.cuda"):
                    raise ImportError("no numba.cuda here")
        sys.meta_path.insert(0, NoCuda())
        import numpy as np
        from minicnn.kernels import backend
        assert backend.kernels_for(np.zeros(2)).__name__ == "minicnn.kernels.cpu"
        assert not backend.cuda_available()
        try:
            backend.to_device(np.zeros(2))
        except RuntimeError as error:
            print("refused:", error)
    """, NUMBA_ENABLE_CUDASIM=None)
    assert "refused: to_device: no CUDA GPU" in out


def test_cpu_kernels_use_their_cache_under_the_simulator():
    """NUMBA_ENABLE_CUDASIM changes numba.cuda only: the @njit CPU kernels still compile, run and
    load from their on-disk cache in a process that has the simulator on."""
    code = """
        import numpy as np
        from numba import cuda
        from minicnn.kernels import cpu
        from minicnn.kernels.cpu import conv
        assert cuda.config.ENABLE_CUDASIM
        x, w = np.ones((1, 2, 4, 4), np.float32), np.ones((3, 2, 3, 3), np.float32)
        assert cpu.conv2d_forward(x, w, None, (1, 1), (0, 0), (1, 1), 1).sum() == 3 * 4 * 18
        chunk = conv._forward_block                # the compiled chunk: im2col, GEMM, layout
        print(sum(chunk.stats.cache_hits.values()), sum(chunk.stats.cache_misses.values()))
    """
    run_python(code, NUMBA_ENABLE_CUDASIM="1")               # fills the cache if it is cold
    hits, misses = map(int, run_python(code, NUMBA_ENABLE_CUDASIM="1").split())
    assert hits >= 1 and misses == 0


def test_bench_cuda_builds_and_times_its_cases(monkeypatch):
    """benchmarks/bench_cuda.py's cases (bench_kernels.py's lists: conv and pooling, with padding)
    and table rows, on tiny shapes and one call each; under the simulator its main() refuses to
    time, so this is what runs its code here. The GPU's results match the CPU's."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bench_cuda
    conv_cases = [("conv", (1, 2, 4, 4), 2, 3, 2, 1, 1)]
    pool_cases = [("max k3 s2 p1", "max", (1, 2, 4, 4), 3, 2, 1), ("avg k2", "avg", (1, 2, 4, 4), 2, 2, 0)]
    for name, case in bench_cuda.cases(conv_cases, pool_cases):
        assert case[3] < 1e-4, name
        cells = bench_cuda.row(name, case, repeats=1, threads=1, rounds=1).split("|")
        assert cells[1].strip() == name and len(cells) == 8 and cells[5].strip().endswith("x")


def test_kernels_compile_for_a_gpu(kernel_launches, tmp_path):
    """Every kernel launched by the tests above (under the simulator) compiles to PTX with NVVM.
    Skips without NVVM (the nvidia-nvvm and nvidia-cuda-nvrtc wheels, or a CUDA toolkit)."""
    if not SIMULATED:
        pytest.skip("on a real GPU every kernel above was compiled already")
    if len(kernel_launches) < 20:
        pytest.skip("run the whole module first: it records the kernel launches to compile")
    path = tmp_path / "launches.json"
    path.write_text(json.dumps(sorted(kernel_launches)))
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("compile_ptx.py")), str(path)],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600)
    if done.returncode == 3:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"compiled {len(kernel_launches)}" in done.stdout
