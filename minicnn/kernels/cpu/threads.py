"""When a kernel should use Numba's threads.

Each parallel kernel in this package is compiled twice from one body: ``*_threads`` (parallel=True,
its prange loops spread over Numba's threads) and ``*_serial`` (the same loops on the calling
thread). Starting Numba's threads costs 20-200 us per call with the workqueue layer on this kind of
machine, more than a small layer's whole pass, so ``pick`` runs the serial twin on one thread and
for small arrays.
"""
import numba

PARALLEL_MIN_WORK = 1 << 15
"""Elements a kernel touches from which its threaded twin pays off."""


def pick(threaded, serial, work):
    """``threaded`` when Numba has several threads and ``work`` >= PARALLEL_MIN_WORK, else ``serial``."""
    return threaded if work >= PARALLEL_MIN_WORK and numba.get_num_threads() > 1 else serial
