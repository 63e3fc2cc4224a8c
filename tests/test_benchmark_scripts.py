"""The benchmark scripts still run against the kernels they time (tiny shapes, one call each; the
timings themselves are not checked: they belong in benchmarks/, not in tests)."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(name, *args):
    """stdout of ``python benchmarks/<name> args``, after checking that it exited cleanly."""
    done = subprocess.run([sys.executable, os.path.join(REPO, "benchmarks", name), *args],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=REPO), timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("layer, a_part", [
    ("--shape 3 4 9 9 --out 5 --kernel 3 --stride 2 --padding 1", "rows_to_nchw"),   # one matrix a chunk
    ("--shape 2 2 32 32 --out 16 --kernel 3 --padding 1", "gy into gapped rows"),     # one an image
    ("--shape 2 2 32 32 --out 16 --kernel 3 --padding 1", "gW products"),
    ("--shape 2 1 32 32 --out 6 --kernel 5", "gW direct loops"),                     # LeNet-5's C1
    ("--shape 2 12 6 6 --out 4 --kernel 3 --padding 1", "16 products U @ V"),        # Winograd
])
def test_conv_parts_runs(layer, a_part):
    out = run_script("conv_parts.py", *layer.split(), "--rounds", "1", "--calls", "1")
    assert out.count("sum of the parts") == 2
    assert a_part in out and "conv2d_backward" in out


def test_bench_kernels_runs():
    """One case, one call per implementation, one thread: the table's row and the first calls."""
    out = run_script("bench_kernels.py", "--only", "C5", "--repeats", "1", "--rounds", "1", "--threads", "1")
    rows = [line for line in out.splitlines() if line.startswith("| LeNet C5")]
    assert len(rows) == 1 and rows[0].count("|") == 10, out
    assert "conv2d_backward" in out.split("First call", 1)[1]
