"""Time minicnn's CPU convolution and pooling kernels against PyTorch (CPU) and the NumPy reference.

    python benchmarks/bench_kernels.py [--repeats 21] [--rounds 7] [--threads 1 2] [--only C3 s2]
    (with minicnn installed, `pip install -e .`, or from the checkout's root with PYTHONPATH=.)

Each case runs forward + backward (all gradients: input, weight, bias) at each thread count, in one
process, the three implementations taking turns (back-to-back calls within a turn), and reports the
median of the repeats in milliseconds with two ratios: minicnn / PyTorch
(below 1: minicnn is faster) and reference / minicnn (how much faster than the plain NumPy im2col).
Thread counts are pinned before every timed block: numba.set_num_threads for Numba's loops,
threadpoolctl for BLAS, torch.set_num_threads for PyTorch. It also reports the first call of each
kernel in a fresh process (Numba's on-disk cache warm), which is what a user waits for at start-up.

The last column, on Linux, is the share of the time the machine's CPUs were busy or wanted to be
that went to the hypervisor during the case instead (``steal`` in /proc/stat): on a shared virtual
machine it rose to 50% in some runs, which then took up to twice as long on two threads. A row
with more than a few percent there measured the host as much as the kernels.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the environment can slow NumPy's BLAS; run with
`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_kernels.py` to compare at
full speed (the BLAS line printed at the top says which kernel OpenBLAS picked).
"""
import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
import threadpoolctl

from minicnn.kernels import cpu, reference
from minicnn.kernels.cpu import conv
from minicnn.kernels.shape_rules import conv_output_size

try:
    import torch
    import torch.nn.functional as torch_F
except ImportError:
    torch = None

# name, input shape, out channels, kernel, stride, padding, dilation
CONV_CASES = [
    ("conv (64,3,32,32)->32 k3 p1", (64, 3, 32, 32), 32, 3, 1, 1, 1),
    ("conv (64,32,16,16)->64 k3 p1", (64, 32, 16, 16), 64, 3, 1, 1, 1),
    ("conv (64,64,8,8)->128 k3 s2 p1", (64, 64, 8, 8), 128, 3, 2, 1, 1),
    ("conv (64,3,32,32)->32 k3 p1 d2", (64, 3, 32, 32), 32, 3, 1, 1, 2),
    ("LeNet C1 (64,1,32,32)->6 k5", (64, 1, 32, 32), 6, 5, 1, 0, 1),
    ("LeNet C3 (64,6,14,14)->16 k5", (64, 6, 14, 14), 16, 5, 1, 0, 1),
    ("LeNet C5 (64,16,5,5)->120 k5", (64, 16, 5, 5), 120, 5, 1, 0, 1),
]
# name, kind, input shape, kernel, stride, padding
POOL_CASES = [("max_pool2d k2 s2 (64,32,32,32)", "max", (64, 32, 32, 32), 2, 2, 0),
              ("max_pool2d k3 s2 p1 (64,32,32,32)", "max", (64, 32, 32, 32), 3, 2, 1),   # ResNet's
              ("max_pool2d k3 s2 (16,64,55,55)", "max", (16, 64, 55, 55), 3, 2, 0),      # AlexNet's
              ("avg_pool2d k2 s2 (64,32,32,32)", "avg", (64, 32, 32, 32), 2, 2, 0)]


_BLAS = threadpoolctl.ThreadpoolController()


def pin(threads):
    """Pin every thread pool to ``threads``; re-done before each timed block (libraries move them)."""
    numba.set_num_threads(threads)
    _BLAS.limit(limits=threads)
    if torch is not None:
        torch.set_num_threads(threads)


SETTLE_S = 0.02
"""The pause before each turn, in which the previous runner's idle threads stop spinning.

PyTorch's OpenMP threads spin for a few milliseconds after its last call without giving their core
away; on a 2-core machine, the next runner's second thread then shares a core with one of them. In
one process, turn by turn with LeNet-5's C3 on two threads, minicnn's four calls right after three
of PyTorch's took 4.6, 3.9, 3.8 and 3.5 ms, and 4.7, 2.8, 2.3, 2.1 after a 5 ms pause (2.2 ms each
after the NumPy reference or none). A training loop runs one framework, so each turn starts once
the others are idle."""


def median_ms(runners, repeats, threads, rounds=7):
    """{name: median milliseconds}. Each runner is timed back to back (as in a training loop, where
    the same layer runs step after step), in ``rounds`` turns of repeats/rounds calls, so a change
    in the machine's load during the run hits every runner alike. Each turn starts SETTLE_S after
    the previous one and with one untimed call."""
    times = {name: [] for name in runners}
    for _ in range(rounds):
        for name, fn in runners.items():
            time.sleep(SETTLE_S)
            pin(threads)
            fn()                                  # warm-up: compile, caches, buffers
            for _ in range(max(1, repeats // rounds)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def cpu_ticks():
    """(busy, steal) clock ticks of all CPUs since boot, from /proc/stat; None where there is none.
    busy counts user, nice, system, irq, softirq and steal time (not idle or iowait)."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq + steal, steal


def steal_share(before, after):
    """'12%': the share of busy ticks between two cpu_ticks() the hypervisor took; 'n/a' without."""
    if before is None or after is None or after[0] <= before[0]:
        return "n/a"
    return f"{100 * (after[1] - before[1]) / (after[0] - before[0]):.0f}%"


def conv_problem(shape, out_ch, k, s, p, d):
    """(x, w, b, gy, args) of one benchmark convolution, float32, seeded."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    w = rng.standard_normal((out_ch, shape[1], k, k), dtype=np.float32) * 0.1
    b = rng.standard_normal(out_ch, dtype=np.float32)
    args = ((s, s), (p, p), (d, d), 1)
    gy = rng.standard_normal(cpu.conv2d_forward(x, w, b, *args).shape, dtype=np.float32)
    return x, w, b, gy, args


def algorithm(shape, out_ch, k, s, p, d):
    """How minicnn's CPU kernels compute this convolution (see minicnn/kernels/cpu/conv.py)."""
    if conv.uses_winograd((out_ch, shape[1], k, k), (s, s), (d, d), 1):
        return "Winograd F(2x2,3x3)"
    out_hw = conv_output_size(shape[2:], (k, k), (s, s), (p, p), (d, d))
    direct = conv.uses_direct_weight_grad(out_ch, (s, s), 1, out_hw)
    return "im2col + GEMM, direct gW" if direct else "im2col + GEMM"


def conv_runners(shape, out_ch, k, s, p, d):
    x, w, b, gy, args = conv_problem(shape, out_ch, k, s, p, d)

    def minicnn():
        cpu.conv2d_forward(x, w, b, *args)
        cpu.conv2d_backward(x, w, gy, *args)

    def numpy_reference():
        reference.conv2d_forward(x, w, b, *args)
        reference.conv2d_input_grad(gy, w, x.shape, *args)
        reference.conv2d_weight_grad(x, gy, w.shape, *args)
        reference.conv2d_bias_grad(gy)

    runners = {"minicnn": minicnn, "reference": numpy_reference}
    if torch is not None:
        tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
        tgy = torch.from_numpy(gy)

        def pytorch():
            tx.grad = tw.grad = tb.grad = None
            torch_F.conv2d(tx, tw, tb, s, p, d).backward(tgy)
        runners["pytorch"] = pytorch
    return runners


def pool_runners(kind, shape, k, s, p):
    """Forward + backward of max_pool2d (kind "max") or avg_pool2d ("avg", padding counted)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape, dtype=np.float32)
    if kind == "max":
        args = ((k, k), (s, s), (p, p), (1, 1), False)
        gy = rng.standard_normal(cpu.max_pool2d_forward(x, *args)[0].shape, dtype=np.float32)

        def run(kernels):
            _, idx = kernels.max_pool2d_forward(x, *args)
            kernels.max_pool2d_backward(gy, idx, x.shape)
    else:
        args = ((k, k), (s, s), (p, p), False, True, None)
        gy = rng.standard_normal(cpu.avg_pool2d_forward(x, *args).shape, dtype=np.float32)

        def run(kernels):
            kernels.avg_pool2d_forward(x, *args)
            kernels.avg_pool2d_backward(gy, x.shape, *args)

    runners = {"minicnn": lambda: run(cpu), "reference": lambda: run(reference)}
    if torch is not None:
        tx, tgy = torch.from_numpy(x).requires_grad_(), torch.from_numpy(gy)
        pool = torch_F.max_pool2d if kind == "max" else torch_F.avg_pool2d

        def pytorch():
            tx.grad = None
            pool(tx, k, s, p).backward(tgy)
        runners["pytorch"] = pytorch
    return runners


FIRST_CALL = """
import time, numpy as np
t = time.perf_counter()
from minicnn.kernels import cpu
print('import', time.perf_counter() - t)
x = np.ones((2, 3, 8, 8), np.float32); w = np.ones((4, 3, 3, 3), np.float32); a = ((1, 1), (1, 1), (1, 1), 1)
calls = [
    ('conv2d_forward', lambda: cpu.conv2d_forward(x, w, None, *a)),
    ('conv2d_backward', lambda: cpu.conv2d_backward(x, w, np.ones((2, 4, 8, 8), np.float32), *a)),
    ('max_pool2d_forward', lambda: cpu.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1), False)),
    ('max_pool2d_backward', lambda: cpu.max_pool2d_backward(np.ones((2, 3, 4, 4), np.float32),
                                                            np.zeros((2, 3, 4, 4), np.int64), x.shape)),
    ('avg_pool2d_forward', lambda: cpu.avg_pool2d_forward(x, (2, 2), (2, 2), (0, 0), False, True)),
    ('avg_pool2d_backward', lambda: cpu.avg_pool2d_backward(np.ones((2, 3, 4, 4), np.float32), x.shape,
                                                            (2, 2), (2, 2), (0, 0), False, True)),
    ('adaptive_avg_pool2d_forward', lambda: cpu.adaptive_avg_pool2d_forward(x, (1, 1))),
    ('adaptive_avg_pool2d_backward', lambda: cpu.adaptive_avg_pool2d_backward(np.ones((2, 3, 1, 1), np.float32), x.shape)),
    ('adaptive_max_pool2d_forward', lambda: cpu.adaptive_max_pool2d_forward(x, (2, 2))),
]
for name, call in calls:
    t = time.perf_counter(); call(); print(name, time.perf_counter() - t)
"""


def first_calls():
    """Seconds of the first call of each kernel in a fresh process (run twice: the first run fills
    Numba's cache if it is cold)."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True,
                             text=True, check=True).stdout
    return [(name, float(sec)) for name, sec in (line.split() for line in out.splitlines())]


def machine():
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines()
                     if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return f"{model}, {os.cpu_count()} logical CPUs"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--rounds", type=int, default=7,
                        help="turns the implementations take (more: a load change is shared more evenly)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", nargs="+", metavar="TEXT",
                        help="run only the cases whose name contains one of these texts (e.g. C3 s2)")
    opts = parser.parse_args()

    blas = [(i["internal_api"], i.get("architecture"), i["version"]) for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]
    print(f"# {time.strftime('%Y-%m-%d')}  {machine()}")
    print(f"# numpy {np.__version__}, numba {numba.__version__} ({numba.config.THREADING_LAYER} layer), "
          f"BLAS {blas}, torch {torch.__version__ if torch else 'not installed'}")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"# median of {opts.repeats} repeats, forward + backward, float32, milliseconds; "
          f"load average before the run: {load}\n")
    print("| case | minicnn's algorithm | threads | minicnn | PyTorch | NumPy ref | minicnn/PyTorch | ref/minicnn "
          "| host's steal |")
    print("|---|---|---|---|---|---|---|---|---|")
    def chosen(name):
        return opts.only is None or any(text in name for text in opts.only)

    cases = ([(name, algorithm(*params), conv_runners(*params)) for name, *params in CONV_CASES if chosen(name)]
             + [(name, "direct loops", pool_runners(*params)) for name, *params in POOL_CASES if chosen(name)])
    for threads in opts.threads:
        for name, how, runners in cases:
            before = cpu_ticks()
            ms = median_ms(runners, opts.repeats, threads, opts.rounds)
            stolen = steal_share(before, cpu_ticks())
            torch_ms = ms.get("pytorch", float("nan"))
            print(f"| {name} | {how} | {threads} | {ms['minicnn']:.2f} | {torch_ms:.2f} | {ms['reference']:.2f} "
                  f"| {ms['minicnn'] / torch_ms:.2f}x | {ms['reference'] / ms['minicnn']:.1f}x | {stolen} |",
                  flush=True)
    print("\nFirst call of each kernel in a fresh process (Numba cache warm), seconds:")
    for name, sec in first_calls():
        print(f"  {name:30s} {sec:.3f}")


if __name__ == "__main__":
    main()
