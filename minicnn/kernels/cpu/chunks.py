"""Run a convolution a chunk of the batch at a time, on one thread or several.

Why chunks: a convolution's intermediate arrays (im2col's columns, Winograd's transformed tiles)
are many times the size of its input: 19 MB for a 64-image batch of 32-channel 16x16 maps and a
3x3 kernel. Made for the whole batch at once, they are written to memory by one pass and read back
by the next, and the matrix product then runs at half its speed. A chunk of images whose
intermediates fill about half of a core's L2 cache (CHUNK_BYTES) goes through every pass without
leaving the cache.

The chunks are also how several threads share the work: with ``numba.get_num_threads()`` > 1, each
chunk runs whole on one worker thread, with BLAS on one thread (threadpoolctl), the way PyTorch
splits a convolution over the batch. The Numba kernels release the GIL (``nogil``), and so does
NumPy's matmul. Work under threads.PARALLEL_MIN_WORK array entries runs on the calling thread:
handing it to a worker costs more than it saves.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import threadpoolctl

from . import threads

CHUNK_BYTES = 1 << 20
"""The intermediates of one chunk: about a core's L2 cache (1.25 MiB on the Xeons the benchmarks
ran on; 1-2 MiB on most current x86 and ARM cores). Half of that was as fast on one thread and
slower on two, where each chunk's Python calls between the kernels hold the GIL."""

_pool = None
_pool_lock = threading.Lock()
_blas = None


def chunks(n, bytes_per_image, workers):
    """[(start, stop), ...]: the batch of n images cut into runs whose sizes differ by one at most
    and whose intermediates fit CHUNK_BYTES (one image at least); as many runs as a multiple of
    ``workers`` (or n runs of one image), so that the workers share them evenly."""
    fit = max(1, CHUNK_BYTES // max(1, bytes_per_image))
    needed = -(-n // fit)                                    # runs that fit CHUNK_BYTES
    count = min(n, -(-needed // workers) * workers)          # up to a multiple of the workers
    bounds = [n * i // count for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _forget_pool():
    """In a forked child the pool's threads are gone: make a new pool there on first use."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def stop_workers():
    """Stop the worker threads (their scratch buffers go with them); made again when next needed."""
    global _pool
    with _pool_lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True)


def _workers(count):
    """The thread pool, of ``count`` workers (made again when the count changes)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers != count:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(count, thread_name_prefix="minicnn-conv")
        return _pool


def over_chunks(task, n, entries_per_image, itemsize):
    """The sum of task(start, stop) over the chunks of the batch (None when the task returns None),
    run on the calling thread, or on numba.get_num_threads() threads (the calling one and workers)
    with BLAS on one thread each, each thread taking every k-th chunk and adding up its own results
    in place.
    ``entries_per_image``: the entries of one image's intermediate arrays (sets the chunk size)."""
    global _blas
    wanted = numba.get_num_threads() if n * entries_per_image >= threads.PARALLEL_MIN_WORK else 1
    runs = chunks(n, entries_per_image * itemsize, wanted)
    wanted = min(wanted, len(runs))

    def run_all(share):
        total = None
        for start, stop in share:
            part = task(start, stop)
            if part is not None:
                total = part if total is None else np.add(total, part, out=total)
        return total

    if wanted == 1:
        return run_all(runs)
    if _blas is None:
        _blas = threadpoolctl.ThreadpoolController()
    shares = [runs[i::wanted] for i in range(wanted)]
    with _blas.limit(limits=1, user_api="blas"):
        others = [_workers(wanted - 1).submit(run_all, share) for share in shares[1:]]
        totals = [run_all(shares[0])]             # the calling thread works too: a worker takes
        totals += [future.result() for future in others]                  # 50-150 us to wake up
    return None if totals[0] is None else sum(totals[1:], totals[0])
