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


def pool_case(kind, shape, k, s, p):
    """The same four for max or average pooling (kind "max" or "avg"), forward + input gradient."""
    from minicnn.kernels import cuda as gpu
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    dx = backend.to_device(x)
    if kind == "max":
        args = ((k, k), (s, s), (p, p), (1, 1), False)
        gy = rng.standard_normal(cpu.max_pool2d_forward(x, *args)[0].shape, dtype=np.float32)

        def run(kernels, xx, gg):
            y, idx = kernels.max_pool2d_forward(xx, *args)
            return y, kernels.max_pool2d_backward(gg, idx, shape)
    else:
        args = ((k, k), (s, s), (p, p), False, True)
        gy = rng.standard_normal(cpu.avg_pool2d_forward(x, *args).shape, dtype=np.float32)

        def run(kernels, xx, gg):
            return kernels.avg_pool2d_forward(xx, *args), kernels.avg_pool2d_backward(gg, shape, *args)
    dgy = backend.to_device(gy)

    def with_copies():
        return [backend.to_host(a) for a in run(gpu, backend.to_device(x), backend.to_device(gy))]

    diff = max(np.abs(backend.to_host(g) - c).max() for g, c in zip(run(gpu, dx, dgy), run(cpu, x, gy)))
    return (lambda: run(cpu, x, gy)), (lambda: run(gpu, dx, dgy)), with_copies, diff


def cases(conv_cases, pool_cases):
    """[(name, (cpu(), gpu(), gpu_with_copies(), max |difference|)), ...] for bench_kernels.py's
    CONV_CASES and POOL_CASES (or lists like them)."""
    return ([(name, conv_case(*params)) for name, *params in conv_cases]
            + [(name, pool_case(*params)) for name, *params in pool_cases])


def row(name, case, repeats, threads, rounds=7):
    """The table's row for one case: CPU, GPU and GPU-with-copies milliseconds (taking turns, as
    in bench_kernels.median_ms), their ratio and the largest difference."""
    from numba import cuda

    from bench_kernels import median_ms

    def synced(fn):                               # GPU kernels return at once: wait for them
        return lambda: (fn(), cuda.synchronize())

    on_cpu, on_gpu, with_copies, diff = case
    ms = median_ms({"cpu": on_cpu, "gpu": synced(on_gpu), "copies": synced(with_copies)}, repeats, threads,
                   rounds)
    return (f"| {name} | {ms['cpu']:.2f} | {ms['gpu']:.3f} | {ms['copies']:.3f} | {ms['cpu'] / ms['gpu']:.1f}x "
            f"| {diff:.1e} |")


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
    for name, case in cases(CONV_CASES, POOL_CASES):
        print(row(name, case, opts.repeats, opts.threads), flush=True)

    n = 2048
    a, b = (backend.to_device(np.random.default_rng(i).standard_normal((n, n), dtype=np.float32)) for i in (1, 2))
    out = backend.to_device(np.empty((n, n), np.float32))
    ms = median_ms({"gemm": lambda: (gpu.matmul(a, b, out), cuda.synchronize())}, max(3, opts.repeats // 4),
                   opts.threads)["gemm"]
    print(f"\nmatmul {n}x{n} @ {n}x{n} (tiled GEMM, {gpu.matmul.__module__}): {ms:.2f} ms, "
          f"{2 * n ** 3 / ms / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
