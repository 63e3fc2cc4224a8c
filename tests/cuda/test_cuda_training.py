"""Training on the GPU end to end: Tensor.to("cuda"), Module.to("cuda"), the ops, the autograd
engine, SGD/Adam, fit/evaluate and the command line, on a GPU when one is present, else under
Numba's CUDA simulator.

Two things make these tests stricter than running the code:
- Under the simulator, a device array is a NumPy array underneath: NumPy functions, operators and
  ndarray methods work on it, which would hide an op falling back to the host. On a GPU, NumPy
  copies a device array to the host when handed one (__array__), silently. The autouse fixture
  `device_arrays_refuse_numpy` makes both raise, and the training tests assert that every
  parameter, gradient, optimizer state entry, activation, activation gradient and array saved for
  backward is a device array.
- The losses are compared with the CPU path step by step (same initial weights, same batches), and
  the weights (and batch-norm statistics) after the last step.

Under the simulator every GPU thread is a Python thread, and the tiled GEMM's syncthreads cost
milliseconds each (a LeNet-5 step would take ~10 minutes): there the GEMM kernel's body is replaced by
NumPy's product on the simulator's arrays (fixture `fast_gemm`; the GEMM itself is held to NumPy in
test_cuda_kernels.py). Everything around it, matmul's checks and split-K included, runs as on a GPU.
"""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

cuda = pytest.importorskip("numba.cuda")
if not cuda.is_available():
    pytest.skip("no CUDA GPU, and NUMBA_ENABLE_CUDASIM is off", allow_module_level=True)

import minicnn as mc                                                  # noqa: E402
import minicnn.functional as F                                        # noqa: E402
from minicnn.autograd.function import NoGPUKernelError                # noqa: E402
from minicnn import cli, nn, train                                    # noqa: E402
from minicnn.data import DataLoader, TensorDataset                    # noqa: E402
from minicnn.kernels import backend, cpu                              # noqa: E402
from minicnn.kernels import cuda as gpu                               # noqa: E402

pytestmark = pytest.mark.cuda
SIMULATED = bool(cuda.config.ENABLE_CUDASIM)
ROOT = Path(__file__).resolve().parents[2]


def on_device(a):
    """numba.cuda.is_cuda_array (the simulator has no such function: it marks its arrays alike)."""
    is_cuda_array = getattr(cuda, "is_cuda_array", None) or cuda.devicearray.is_cuda_ndarray
    return bool(is_cuda_array(a))


def host(a):
    assert on_device(a), f"expected a device array, got {type(a).__name__}"
    return a.copy_to_host()


def rand(shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------------- fixtures
def _refuse(*args, **kwargs):
    raise TypeError("NumPy was handed a device array: an op fell back to the host")


@pytest.fixture(autouse=True)
def device_arrays_refuse_numpy(monkeypatch):
    """Device arrays without NumPy: operators, comparisons, ndarray methods (astype, sum, ...) and the
    conversion to a NumPy array raise, under the simulator as on a GPU (see the module docstring)."""
    if SIMULATED:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray
        for name in ("__add__", "__sub__", "__mul__", "__truediv__", "__floordiv__", "__mod__", "__pow__",
                     "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__array__"):
            monkeypatch.setattr(FakeCUDAArray, name, _refuse, raising=False)
        allowed = {"dtype", "size", "ndim", "strides", "itemsize", "flags"}
        original = FakeCUDAArray.__getattr__

        def device_attributes_only(self, name):
            if name not in allowed:
                raise AttributeError(f"a device array has no {name!r} here (a NumPy method: a host fallback?)")
            return original(self, name)
        monkeypatch.setattr(FakeCUDAArray, "__getattr__", device_attributes_only)
    else:
        from numba.cuda.cudadrv.devicearray import DeviceNDArray
        monkeypatch.setattr(DeviceNDArray, "__array__", _refuse)


class _NumpyGemm:
    """Stands in for matmul._gemm[blocks, threads](a, b, out, trans_a, trans_b, k_chunk, k_splits)."""

    def __getitem__(self, launch_configuration):
        def gemm(a, b, out, trans_a, trans_b, k_chunk, k_splits):
            a, b = a._ary, b._ary                   # (G, M, K) @ (G, K, N), the simulator's arrays
            out._ary[...] = (a.swapaxes(1, 2) if trans_a else a) @ (b.swapaxes(1, 2) if trans_b else b)
        return gemm


@pytest.fixture
def fast_gemm(monkeypatch):
    """Under the simulator, the GEMM kernel's body as NumPy (see the module docstring)."""
    if SIMULATED:
        monkeypatch.setattr(importlib.import_module("minicnn.kernels.cuda.matmul"), "_gemm", _NumpyGemm())
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-5)
        yield
        sys.setswitchinterval(interval)
    else:
        yield


def test_device_arrays_refuse_numpy_here():
    d = backend.to_device(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="fell back to the host"):
        np.maximum(d, 0)
    if SIMULATED:
        with pytest.raises(TypeError, match="fell back to the host"):
            d + d
        with pytest.raises(AttributeError, match="host fallback"):
            d.astype(np.float64)


# ------------------------------------------------------------------------ tensors on the GPU
def test_tensor_moves_between_host_and_gpu():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    x = mc.tensor(a, requires_grad=True)
    d = x.to("cuda")
    assert d.device == "cuda" and on_device(d.data) and x.device == "cpu"
    assert d.shape == (2, 3) and d.dtype == np.float32 and d.ndim == 2 and len(d) == 2
    assert d.cuda() is d and x.cpu() is x and d.to("cuda") is d
    back = d.cpu()
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    np.testing.assert_array_equal(d.numpy(), a)               # numpy() copies to the host
    assert isinstance(d.numpy(), np.ndarray)
    assert mc.tensor([2.5]).cuda().item() == 2.5 and d.tolist() == a.tolist()
    assert mc.tensor(2.5).cuda().shape == () and mc.tensor(2.5).cuda().item() == 2.5
    assert "device='cuda:0'" in repr(d) and "5." in repr(d)
    assert mc.Tensor(d.data).device == "cuda"
    with pytest.raises(TypeError, match="use .numpy"):
        np.asarray(d)
    # .to() is differentiable: the gradient comes back to the host leaf
    F.relu(d).cpu().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (a > 0).astype(np.float32))
    assert isinstance(x.grad.data, np.ndarray)


def test_dtype_cast_and_long_on_the_gpu():
    d = mc.tensor([[1.5, -2.0]]).cuda()
    assert d.double().dtype == np.float64 and d.double().device == "cuda"
    np.testing.assert_array_equal(d.long().numpy(), [[1, -2]])
    assert d.long().device == "cuda"


def test_backward_seed_and_explicit_gradient_stay_on_the_gpu():
    x = mc.tensor(rand((2, 3)), requires_grad=True)
    d = x.cuda()
    y = F.relu(d)
    y.backward(mc.tensor(np.ones((2, 3), np.float32)).cuda())
    np.testing.assert_array_equal(x.grad.numpy(), (x.numpy() > 0).astype(np.float32))
    leaf = mc.tensor([3.0], requires_grad=True).cuda().detach().requires_grad_()
    leaf.backward()                                           # a leaf: d leaf / d leaf = 1
    assert on_device(leaf.grad.data) and leaf.grad.item() == 1.0


NO_GPU_KERNEL = {
    "Softmax": lambda x: F.softmax(x, dim=1),
    "LogSoftmax": lambda x: F.log_softmax(x, dim=1),
    "LeakyReLU": lambda x: F.leaky_relu(x),
    "Dropout": lambda x: F.dropout(x, 0.5, training=True),
    "Mul": lambda x: x * x,
    "Sub": lambda x: x - x,
    "Exp": lambda x: x.exp(),
    "Sum": lambda x: x.sum(),
    "Mean": lambda x: x.mean(),
    "GetItem": lambda x: x[0],
    "Pad": lambda x: F.pad(x, (1, 1)),
    "Permute": lambda x: x.T,
    "Tensor.argmax": lambda x: x.argmax(dim=1),
    "Tensor.greater": lambda x: x > 0,
}


@pytest.mark.parametrize("name", sorted(NO_GPU_KERNEL))
def test_an_op_without_a_gpu_kernel_says_so(name):
    x = mc.tensor(rand((2, 3)), requires_grad=True).cuda()
    with pytest.raises(NoGPUKernelError, match=rf"^{name}: no GPU kernel yet"):
        NO_GPU_KERNEL[name](x)


def test_tensors_on_two_devices_are_refused():
    x = mc.tensor(rand((2, 3)))
    with pytest.raises(RuntimeError, match="Add: expected all tensors on the same device"):
        x.cuda() + x
    w = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match="same device"):
        w(x.cuda())
    logits = mc.tensor(rand((2, 3))).cuda()
    with pytest.raises(RuntimeError, match="CrossEntropy: expected all tensors on the same device"):
        F.cross_entropy(logits, mc.tensor([0, 2]))


def test_to_cuda_without_a_gpu_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(backend, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        mc.tensor([1.0]).to("cuda")
    with pytest.raises(RuntimeError, match="no CUDA GPU is available"):
        nn.Linear(2, 2).to("cuda")


# -------------------------------------------------- the kernels added for training, against the CPU
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_kernels_match_cpu(reduction, smoothing):
    logits = rand((5, 4)) * 3
    target = np.array([0, 3, 1, 1, 2])
    want, log_p = cpu.cross_entropy_forward(logits, target, reduction, smoothing)
    got, d_log_p = gpu.cross_entropy_forward(backend.to_device(logits), backend.to_device(target), reduction,
                                             smoothing)
    np.testing.assert_allclose(host(got), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(host(d_log_p), log_p, rtol=1e-5, atol=1e-6)
    gy = rand(want.shape, seed=1)
    np.testing.assert_allclose(
        host(gpu.cross_entropy_backward(backend.to_device(gy), d_log_p, backend.to_device(target), reduction,
                                        smoothing)),
        cpu.cross_entropy_backward(gy, log_p, target, reduction, smoothing), rtol=1e-5, atol=1e-6)


def test_cross_entropy_on_the_gpu_gives_an_out_of_range_target_a_nan_loss():
    logits = mc.tensor(rand((2, 3))).cuda()
    losses = F.cross_entropy(logits, mc.tensor([1, 7]).cuda(), reduction="none").numpy()
    assert np.isfinite(losses[0]) and np.isnan(losses[1])


@pytest.mark.parametrize("x_shape", [(3, 5), (2, 3, 5)])
def test_linear_kernels_match_cpu(x_shape):
    x, w, b, = rand(x_shape), rand((4, 5), 1), rand(4, 2)
    gy = rand((*x_shape[:-1], 4), 3)
    np.testing.assert_allclose(host(gpu.linear_forward(*map(backend.to_device, (x, w, b)))),
                               cpu.linear_forward(x, w, b), rtol=1e-5, atol=1e-5)
    got = gpu.linear_backward(*map(backend.to_device, (x, w, gy)))
    for g, want in zip(got, cpu.linear_backward(x, w, gy)):
        np.testing.assert_allclose(host(g), want, rtol=1e-5, atol=1e-5)
    assert gpu.linear_backward(*map(backend.to_device, (x, w, gy)), needs=(False, True, False))[::2] == (None, None)


@pytest.mark.parametrize("shape, target", [((4, 3), (3,)), ((2, 3, 4, 5), (1, 3, 1, 1)), ((2, 3, 4), ()),
                                           ((2, 3, 4), (1, 1, 4)), ((2, 3, 4), (3, 4)), ((2, 3), (2, 3))])
def test_sum_to_shape_matches_cpu(shape, target):
    g = rand(shape)
    np.testing.assert_allclose(host(gpu.sum_to_shape(backend.to_device(g), target)), cpu.sum_to_shape(g, target),
                               rtol=1e-5, atol=1e-5)


def test_sum_to_shape_of_axes_that_are_not_neighbours_has_no_gpu_kernel():
    with pytest.raises(ValueError, match="no GPU kernel yet"):
        gpu.sum_to_shape(backend.to_device(rand((2, 3, 4))), (2, 1, 4))


def test_engine_helpers_and_running_statistics_match_cpu():
    a, b = rand((2, 3)), rand((2, 3), 1)
    da, db = backend.to_device(a), backend.to_device(b)
    np.testing.assert_allclose(host(gpu.add(da, db)), cpu.add(a, b), rtol=1e-6)
    gpu.add(da, db, out=da)
    np.testing.assert_allclose(host(da), a + b, rtol=1e-6)
    assert host(gpu.astype(db, np.float64)).dtype == np.float64
    np.testing.assert_array_equal(host(gpu.full((2, 2), 3, np.float32)), cpu.full((2, 2), 3, np.float32))
    mean, var = rand(3, 4).astype(np.float64), np.abs(rand(3, 5)).astype(np.float64)
    running = [rand(3, 6), np.abs(rand(3, 7))]
    on_gpu = [backend.to_device(r) for r in running]
    cpu.batch_norm_update_running(*running, mean, var, 0.1, 8)
    gpu.batch_norm_update_running(*on_gpu, backend.to_device(mean), backend.to_device(var), 0.1, 8)
    for got, want in zip(on_gpu, running):
        np.testing.assert_allclose(host(got), want, rtol=1e-6)
    np.testing.assert_allclose(host(gpu.batch_norm_invstd(backend.to_device(var), 1e-5)),
                               cpu.batch_norm_invstd(var, 1e-5), rtol=1e-12)


# ------------------------------------------------------------------- training, step by step
def check_on_device(model, optimizer, loss):
    """Every parameter, gradient, optimizer state array, activation and activation gradient of the
    last step is a device array (activations: recorded by the hooks of `record_activations`)."""
    for name, p in model.named_parameters():
        assert on_device(p.data) and p.grad is not None and on_device(p.grad.data), name
    for name, b in model.named_buffers():
        assert on_device(b.data) or b.dtype.kind == "i", name      # integer counters stay on the host
    for p, state in optimizer.state.items():
        for key, value in state.items():
            assert key == "step" or on_device(value), key
    assert on_device(loss.data)
    for name, out in model._activations:
        assert on_device(out.data), f"the output of {name or 'the model'}"
        if out.requires_grad:                                 # (not Flatten of the input images)
            assert out.grad is not None and on_device(out.grad.data), f"the gradient of {name or 'the model'}'s output"


def record_activations(model):
    """Forward hooks that keep each layer's output (and its gradient, retain_grad) in model._activations."""
    model._activations = []
    for name, module in model.named_modules():
        def hook(m, inputs, out, name=name):
            out.retain_grad()
            model._activations.append((name, out))
        module.register_forward_hook(hook)


def saved_arrays_on_device(loss):
    """Walk the graph from the loss: every input and every array saved for backward is a device array."""
    seen, stack, count = set(), [loss.grad_fn], 0
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        for saved in node.ctx.saved_tensors:
            assert saved is None or on_device(saved), f"{node.name()} saved a {type(saved).__name__}"
            count += 1
        for t in node.inputs:
            if t is not None:
                assert on_device(t.data), f"an input of {node.name()} is on the host"
                stack.append(t.grad_fn)
    return count


def train_both(make_model, make_optimizer, batches, rtol=1e-4, atol=1e-5, weights_atol=1e-5):
    """Train a model on the CPU and a copy on the GPU on the same batches; compare the losses step by
    step and the state dicts at the end. Returns the GPU losses."""
    on_cpu = make_model()
    on_gpu = make_model()
    on_gpu.load_state_dict(on_cpu.state_dict())
    assert on_gpu.to("cuda") is on_gpu
    opt_cpu, opt_gpu = make_optimizer(on_cpu.parameters()), make_optimizer(on_gpu.parameters())
    record_activations(on_gpu)
    losses = []
    for images, labels in batches:
        want = F.cross_entropy(on_cpu(images), labels)
        opt_cpu.zero_grad()
        want.backward()
        opt_cpu.step()

        on_gpu._activations.clear()
        loss = F.cross_entropy(on_gpu(images.to("cuda")), labels.to("cuda"))
        assert saved_arrays_on_device(loss) > 0
        opt_gpu.zero_grad()
        loss.backward()
        opt_gpu.step()
        check_on_device(on_gpu, opt_gpu, loss)
        np.testing.assert_allclose(loss.item(), want.item(), rtol=rtol, atol=atol)
        losses.append(loss.item())
    on_gpu.to("cpu")
    for (key, got), want in zip(on_gpu.state_dict().items(), on_cpu.state_dict().values()):
        assert isinstance(got.data, np.ndarray), key
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=weights_atol, err_msg=key)
    return losses


def image_batches(n_batches, shape=(2, 1, 32, 32), classes=10):
    rng = np.random.default_rng(0)
    return [(mc.tensor(rng.standard_normal(shape).astype(np.float32)),
             mc.tensor(rng.integers(0, classes, shape[0]))) for _ in range(n_batches)]


def test_lenet5_trains_with_sgd_as_on_the_cpu(fast_gemm):
    losses = train_both(lambda: mc.models.lenet5(),
                        lambda ps: mc.optim.SGD(ps, lr=0.05, momentum=0.9), image_batches(3))
    assert len(losses) == 3 and np.all(np.isfinite(losses))


def test_modern_lenet5_trains_with_adam_as_on_the_cpu(fast_gemm):
    train_both(lambda: mc.models.lenet5(modern=True), lambda ps: mc.optim.Adam(ps, lr=1e-3),
               image_batches(2), weights_atol=1e-4)


def mlp():
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 8), nn.Tanh(),
                         nn.Linear(8, 5), nn.Sigmoid(), nn.Linear(5, 3))


@pytest.mark.parametrize("make_optimizer", [
    lambda ps: mc.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda ps: mc.optim.AdamW(ps, lr=1e-2, amsgrad=True)], ids=["sgd", "adamw"])
def test_mlp_trains_as_on_the_cpu(make_optimizer, fast_gemm):
    batches = image_batches(1, (6, 1, 4, 4), 3) * 3            # one batch three times: the loss must drop
    losses = train_both(mlp, make_optimizer, batches, weights_atol=1e-4)
    assert losses[-1] < losses[0]


def small_resnet():
    """ResNet-8 (ResNet-20's layers, one block a stage: batch norm in the simulator is slow), 1/8 wide."""
    return mc.models.resnet(8, num_classes=4, width_mult=0.125)


def test_small_resnet_trains_as_on_the_cpu(fast_gemm):
    """Batch norm (batch statistics, running statistics) and the residual additions on the GPU."""
    train_both(small_resnet,
               lambda ps: mc.optim.SGD(ps, lr=0.05, momentum=0.9), image_batches(2, (2, 3, 4, 4), 4),
               weights_atol=1e-4)


def test_eval_mode_batch_norm_and_no_grad_on_the_gpu(fast_gemm):
    model = small_resnet()
    x = mc.tensor(rand((2, 3, 4, 4)))
    with mc.no_grad():
        model(x)                                              # updates the running statistics
        model.eval()
        want = model(x)
        got = model.to("cuda")(x.cuda())
    assert got.device == "cuda" and got.grad_fn is None
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-5)


# -------------------------------------------------------------- module, optimizer, fit, CLI
def test_module_and_optimizer_state_move_between_host_and_gpu(fast_gemm):
    model = mlp()
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    model.cuda()
    assert all(on_device(p.data) for p in model.parameters())
    opt = mc.optim.Adam(model.parameters(), lr=1e-2)
    images, labels = image_batches(1, (6, 1, 4, 4), 3)[0]
    F.cross_entropy(model(images.cuda()), labels.cuda()).backward()
    opt.step()
    saved = opt.state_dict()                                  # host copies
    assert all(isinstance(v, np.ndarray) for s in saved["state"].values() for k, v in s.items() if k != "step")
    fresh = mc.optim.Adam(model.parameters(), lr=1e-2)
    fresh.load_state_dict(saved)                              # onto the parameters' device
    assert all(on_device(v) for s in fresh.state.values() for k, v in s.items() if k != "step")
    fresh.zero_grad(set_to_none=False)                        # zeros written on the device
    assert all(on_device(p.grad.data) and not p.grad.numpy().any() for p in model.parameters())
    model.cpu()
    assert all(isinstance(p.data, np.ndarray) and isinstance(p.grad.data, np.ndarray) for p in model.parameters())
    changed = [k for k, v in model.state_dict().items() if not np.array_equal(v.numpy(), before[k])]
    assert changed                                            # the step was taken, and came back


def test_fit_and_evaluate_on_the_gpu(fast_gemm):
    rng = np.random.default_rng(0)
    images = rng.standard_normal((12, 1, 4, 4)).astype(np.float32)
    labels = (images.reshape(12, -1).sum(axis=1) > 0).astype(np.int64)
    loader = DataLoader(TensorDataset(images, labels), batch_size=6)
    model = mlp()
    opt = mc.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = train.fit(model, loader, opt, epochs=2, progress=False, device="cuda")
    assert train.model_device(model) == "cuda" and all(on_device(p.data) for p in model.parameters())
    assert len(history.loss) == 2 and all(np.isfinite(history.loss))
    result = train.evaluate(model, loader)                    # on the model's device
    assert result.confusion.sum() == 12 and 0 <= result.accuracy <= 1
    model.to("cpu")
    on_cpu = train.evaluate(model, loader)
    assert on_cpu.loss == pytest.approx(result.loss, rel=1e-4)
    np.testing.assert_array_equal(on_cpu.confusion, result.confusion)


def test_cli_device_cuda_without_a_gpu_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(cli, "cuda_available", lambda: False)
    assert cli.main(["train", "--device", "cuda", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --device cuda: no CUDA GPU") and "\n" not in err


def test_cli_parses_device_cuda():
    args = cli.build_parser().parse_args(["train", "--device", "cuda"])
    assert args.device == "cuda"
    assert cli.build_parser().parse_args(["evaluate", "--model", "lenet5", "--weights", "w.npz",
                                          "--device", "cuda"]).device == "cuda"


def test_kernels_launched_here_compile_for_a_gpu(kernel_launches, tmp_path):
    """Every kernel launched by the tests (under the simulator) compiles to PTX with NVVM, as in
    test_cuda_kernels.py. Skips without NVVM."""
    if not SIMULATED:
        pytest.skip("on a real GPU every kernel above was compiled already")
    ours = sorted(launch for launch in kernel_launches
                  if launch[0].rsplit(".", 1)[-1] in ("elementwise", "linear", "loss", "im2col"))
    if not ours:
        pytest.skip("run the whole module first: it records the kernel launches to compile")
    path = tmp_path / "launches.json"
    path.write_text(json.dumps(ours))
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), environ.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("compile_ptx.py")), str(path)],
                          cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600)
    if done.returncode == 3:
        pytest.skip(done.stdout.strip())
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"compiled {len(ours)}" in done.stdout
