"""When a kernel should use several threads.

The convolution, pooling and linear kernels run their chunks on minicnn's worker threads
(chunks.py) only for calls of at least PARALLEL_MIN_WORK array entries: below that, handing work
to another thread costs more than the pass itself (20-200 us to wake a thread on the virtual
machines the benchmarks ran on), and the chunks run on the calling thread.
"""

PARALLEL_MIN_WORK = 1 << 15
"""Array entries a call touches from which it uses the worker threads."""
