"""Time minicnn's GPU kernels (numba.cuda) against its CPU kernels, on the shapes of bench_kernels.py.

    python benchmarks/bench_cuda.py [--repeats 20] [--threads N]
    (with minicnn installed, `pip install -e .`, or from the checkout's root with PYTHONPATH=.)

Needs an NVIDIA GPU: it exits with a message when there is none, and refuses to run under Numba's
CUDA simulator (NUMBA_ENABLE_CUDASIM=1), whose timings would mean nothing.

Each case runs forward + backward (conv: all of input, weight and bias gradients; pooling: forward
and input gradient) and reports the median of the repeats in milliseconds: the CPU kernels on NumPy
arrays (at --threads, default all cores), the GPU kernels on arrays already on the GPU (as in a
training step that keeps its tensors there), and the GPU including the copies of the inputs to the
GPU and of the results back. The last column is the largest difference between the GPU's and the
CPU's results (a correctness check, float32). A GEMM line reports the tiled matmul's throughput.
"""
import argparse
import os
import sys
import time

import numpy as np

from minicnn.kernels import backend, cpu


def gpu_or_exit():
    """numba.cuda, or exit with a message when no real GPU is at hand."""
    if backend.cuda_simulated():
        sys.exit("bench_cuda: NUMBA_ENABLE_CUDASIM is set: the CUDA simulator runs kernels as Python, "
                 "so its timings mean nothing. Unset it and run on a machine with an NVIDIA GPU.")
    if not backend.cuda_available():
        sys.exit("bench_cuda: no CUDA GPU found (numba.cuda.is_available() is False, or numba-cuda is "
                 "not installed): this benchmark needs an NVIDIA GPU with its driver.")
    from numba import cuda
    return cuda


def conv_case(shape, out_ch, k, s, p, d):
    """(cpu(), gpu(), gpu_with_copies(), max |difference|) for forward + backward of one convolution."""
    from bench_kernels import conv_problem  # the same seeded problem as the CPU benchmark
    from minicnn.kernels import cuda as gpu
    x, w, b, gy, args = conv_problem(shape, out_ch, k, s, p, d)
    dx, dw, db, dgy = (backend.to_device(a) for a in (x, w, b, gy))

    def on_cpu():
        return (cpu.conv2d_forward(x, w, b, *args), *cpu.conv2d_backward(x, w, gy, *args))

    def on_gpu():
        return (gpu.conv2d_forward(dx, dw, db, *args), *gpu.conv2d_backward(dx, dw, dgy, *args))

    def with_copies():
        hx, hw, hb, hgy = (backend.to_device(a) for a in (x, w, b, gy))
        return [backend.to_host(a) for a in (gpu.conv2d_forward(hx, hw, hb, *args),
                                             *gpu.conv2d_backward(hx, hw, hgy, *args))]

    diff = max(np.abs(backend.to_host(g) - c).max() for g, c in zip(on_gpu(), on_cpu()))
    return on_cpu, on_gpu, with_copies, diff


def pool_case(shape, k, s, kind):
    """The same four for max or average pooling, forward + input gradient."""
    from minicnn.kernels import cuda as gpu
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    dx = backend.to_device(x)
    if kind == "max":
        args = ((k, k), (s, s), (0, 0), (1, 1), False)
        gy = rng.standard_normal(cpu.max_pool2d_forward(x, *args)[0].shape, dtype=np.float32)

        def run(kernels, xx, gg):
            y, idx = kernels.max_pool2d_forward(xx, *args)
            return y, kernels.max_pool2d_backward(gg, idx, shape)
    else:
        args = ((k, k), (s, s), (0, 0), False, True)
        gy = rng.standard_normal(cpu.avg_pool2d_forward(x, *args).shape, dtype=np.float32)

        def run(kernels, xx, gg):
            return kernels.avg_pool2d_forward(xx, *args), kernels.avg_pool2d_backward(gg, shape, *args)
    dgy = backend.to_device(gy)

    def with_copies():
        return [backend.to_host(a) for a in run(gpu, backend.to_device(x), backend.to_device(gy))]

    diff = max(np.abs(backend.to_host(g) - c).max() for g, c in zip(run(gpu, dx, dgy), run(cpu, x, gy)))
    return (lambda: run(cpu, x, gy)), (lambda: run(gpu, dx, dgy)), with_copies, diff


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (Numba and BLAS)")
    opts = parser.parse_args()
    cuda = gpu_or_exit()

    from bench_kernels import CONV_CASES, POOL_CASES, machine, median_ms  # the CPU benchmark's shapes

    from minicnn.kernels import cuda as gpu

    device = cuda.get_current_device()
    name = getattr(device, "name", "unknown GPU")
    name = name.decode() if isinstance(name, bytes) else name
    cc = ".".join(map(str, getattr(device, "compute_capability", ())))
    print(f"# {time.strftime('%Y-%m-%d')}  GPU: {name} (compute capability {cc}); CPU: {machine()}, "
          f"{opts.threads} threads")
    print(f"# median of {opts.repeats} repeats, forward + backward, float32, milliseconds\n")
    print("| case | CPU | GPU | GPU with copies | CPU/GPU | max abs diff |")
    print("|---|---|---|---|---|---|")
    cases = ([(name, conv_case(*params)) for name, *params in CONV_CASES]
             + [(name, pool_case(shape, k, s, "max")) for name, shape, k, s in POOL_CASES]
             + [(name.replace("max_pool2d", "avg_pool2d"), pool_case(shape, k, s, "avg"))
                for name, shape, k, s in POOL_CASES])
    def synced(fn):                               # GPU kernels return at once: wait for them
        return lambda: (fn(), cuda.synchronize())

    for name, (on_cpu, on_gpu, with_copies, diff) in cases:
        cpu_ms = median_ms(on_cpu, opts.repeats, opts.threads)
        gpu_ms = median_ms(synced(on_gpu), opts.repeats, opts.threads)
        copy_ms = median_ms(synced(with_copies), opts.repeats, opts.threads)
        print(f"| {name} | {cpu_ms:.2f} | {gpu_ms:.3f} | {copy_ms:.3f} | {cpu_ms / gpu_ms:.1f}x | {diff:.1e} |",
              flush=True)

    n = 2048
    a, b = (backend.to_device(np.random.default_rng(i).standard_normal((n, n), dtype=np.float32)) for i in (1, 2))
    out = backend.to_device(np.empty((n, n), np.float32))
    ms = median_ms(synced(lambda: gpu.matmul(a, b, out)), max(3, opts.repeats // 4), opts.threads)
    print(f"\nmatmul {n}x{n} @ {n}x{n} (tiled GEMM, {gpu.matmul.__module__}): {ms:.2f} ms, "
          f"{2 * n ** 3 / ms / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
