"""Run a convolution (or a linear layer's products, linear.py, or a pooling kernel, pool.py) a
chunk of the batch at a time, on one thread or several.

Why chunks: a convolution's intermediate arrays (im2col's columns, Winograd's transformed tiles)
are many times the size of its input: 19 MB for a 64-image batch of 32-channel 16x16 maps and a
3x3 kernel. Made for the whole batch at once, they are written to memory by one pass and read back
by the next, and the matrix product then runs at half its speed. A chunk of images whose
intermediates fit in a core's L2 cache (CHUNK_BYTES) goes through every pass without leaving
the cache. On one thread the chunks simply run in turn.

The chunks are also how several threads share the work: with ``numba.get_num_threads()`` > 1, each
chunk runs whole on one worker thread, with BLAS on one thread (blas.limit_threads), the way PyTorch
splits a convolution over the batch. Work under PARALLEL_MIN_WORK array entries runs on the calling
thread: handing it to a worker costs more than it saves. Pooling keeps no intermediates, and takes
one chunk per thread. One call at a time uses the workers; a call made meanwhile from another
thread runs the same chunks on its own thread, so that BLAS's process-wide thread count is lowered
and restored by one thread only.

Each thread runs one compiled loop (conv.py's ``_forward_block``, pool.py's ``_max_pool_chunks``,
...) that takes chunks from the call's schedule itself, one at a time (``next_chunk``: an atomic
add on a counter), until none is left, without the GIL, calling BLAS itself (blas.py). So a thread
enters Python once a call, not once a chunk: with a Python function per chunk, its glue (buffers,
slices, a lock to hand out the chunks and one to add up their results) and the GIL hand-offs
around it took a quarter of LeNet-5's C3 forward pass on two threads (1.18-1.22 ms against 0.87).
Results that add up over the chunks (a weight gradient) are added in chunk order
(``add_in_order``), so that a sum has the same rounding on every run, whichever thread made
which part (and on one thread as on several when the batch falls into the same chunks: chunks()
rounds their count up to a multiple of the threads).

The workers wait for work spinning on a flag, not sleeping (spin.py, ``_Workers``): woken from a
ThreadPoolExecutor's queue, a worker started 50 us to over 1 ms after the call, which made LeNet-5's
C3 (0.1-0.5 ms a chunk) slower on two threads than on one.
"""
import contextlib
import os
import threading

import numba
import numpy as np
from numba import njit

from . import blas, spin

PARALLEL_MIN_WORK = 1 << 15
"""Array entries a call touches from which its chunks go to the worker threads too: below that,
handing work to another thread costs more than the pass itself (20-200 us to wake a thread on the
virtual machines the benchmarks ran on), and the chunks run on the calling thread."""

CHUNK_BYTES = 5 << 18
"""The intermediates of one chunk: a core's L2 cache, 1.25 MiB on the Xeons the benchmarks ran on
(1-2 MiB on most current x86 and ARM cores). Measured against 1 MiB, turn by turn in one process:
the (64, 64, 8, 8) -> 128 stride-2 layer ran 9-13% faster on one thread and 10-21% on two (two
chunks of 32 images instead of three of 21-22, whose weight-gradient products ran 1.5x slower),
a (64, 64, 16, 16) -> 128 one 10-16% faster, the other layers of benchmarks/ the same within
+-5%. 2 MiB made the Winograd layer and LeNet-5's C3 7-8% slower, 4 MiB 34-40%."""

_lock = threading.Lock()            # guards _pool
_pool = None                        # the _Workers, made on first use
_parallel = threading.Lock()        # held by the one over_chunks call that uses the workers now
_restore_blas = None                # restores BLAS's thread count after that call (or a fork)


def chunks(n, bytes_per_image, workers):
    """[(start, stop), ...]: the batch of n images cut into runs whose sizes differ by one at most
    and whose intermediates fit CHUNK_BYTES (one image at least); as many runs as a multiple of
    ``workers`` (or n runs of one image), so that the workers share them evenly."""
    if n == 0:
        return []
    fit = max(1, CHUNK_BYTES // max(1, bytes_per_image))
    needed = -(-n // fit)                                    # runs that fit CHUNK_BYTES
    count = min(n, -(-needed // workers) * workers)          # up to a multiple of the workers
    bounds = [n * i // count for i in range(count + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


@contextlib.contextmanager
def _workers_and_one_blas_thread():
    """True, with BLAS on one thread until the block ends, for the one call that may use the
    workers now; False for any call made meanwhile from another thread, which then runs on its own
    thread. BLAS's thread count belongs to the process: the thread that lowers it (blas.py) also
    restores it, before another call may."""
    global _restore_blas
    if not _parallel.acquire(blocking=False):
        yield False
        return
    try:
        _restore_blas = blas.limit_threads(1)
        yield True
    finally:
        restore, _restore_blas = _restore_blas, None
        if restore is not None:
            restore()
        _parallel.release()


SPIN_ROUNDS = 10_000
"""How long an idle worker spins before it sleeps: about 2 ms of rounds (spin.py), longer than the
gap between the convolutions of a training step (0.2 us a round with nothing else to run)."""

JOIN_ROUNDS = 1000
"""The rounds of the calling thread's spin while it waits for the workers, between two looks from
Python (which let Ctrl-C through)."""


class _Workers:
    """Worker threads that wait for work spinning on a flag (spin.py), and sleep only after
    SPIN_ROUNDS without any. ``run(plan, work, helpers)`` runs work(go) on the calling thread and
    work(None) on the first ``helpers`` workers, and returns once every thread has left ``plan``
    (a schedule, below) and its chunks are all done, or a thread failed. work(None) returns the
    schedule the worker is still counted in (BUSY), which it leaves in compiled code
    (_leave_and_wait). Flag 0 holds the number of the latest job.

    The calling thread holds the GIL from the moment it posts a job until its compiled code
    starts, and a worker that asks for the GIL meanwhile sleeps until the operating system wakes
    it (up to 1 ms here). So the job's number is published by that compiled code itself: ``go`` =
    (flags, 0, number), which ``next_chunk`` publishes first thing. A worker then finds the GIL free.
    Sleeping workers are told at once."""

    def __init__(self):
        self._flags = np.zeros(spin.FLAG_STRIDE, np.int64)
        self._job = (0, None, 0)                  # (number, work, helpers); work None: stop
        self._threads = []
        self._awake = threading.Condition()       # for sleeping workers
        self._sleeping = 0

    def run(self, plan, work, helpers):
        """work(go) here and work(None) on ``helpers`` workers (started when missing), returning
        once every thread has left ``plan`` (_over). ``work`` records its errors
        itself (over_chunks): the workers' are dropped here, the calling thread's raised."""
        while len(self._threads) < helpers:
            thread = threading.Thread(target=self._serve, args=(len(self._threads), self._job[0]),
                                      name=f"minicnn-worker-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()
        number = self._job[0] + 1
        self._post(work, helpers, number, now=False)
        try:
            work((self._flags, 0, number))
        finally:
            spin.publish(self._flags, 0, number)  # in case work failed before its compiled loop did
            try:
                while not _over(plan, JOIN_ROUNDS):
                    pass                          # a chunk a worker took is still running
            except BaseException:                 # Ctrl-C while waiting: stop the workers' chunks
                spin.publish(plan, _FAILED, 1)    # first, so that none writes after the call
                while not _over(plan, JOIN_ROUNDS):
                    pass
                raise
            finally:
                self._job = (number, _no_work, 0)     # let go of the call's arrays

    def stop(self):
        """Stop the workers and wait for them to end."""
        self._post(None, len(self._threads), self._job[0] + 1, now=True)
        for thread in self._threads:
            thread.join()

    def _post(self, work, helpers, number, now):
        """Make job ``number`` the latest; publish its number now if ``now`` or if a worker sleeps
        (and wake it), else leave that to the caller's first chunk."""
        self._job = (number, work, helpers)
        with self._awake:
            if now or self._sleeping:
                spin.publish(self._flags, 0, number)
                self._awake.notify_all()

    def _serve(self, index, seen):
        plan = None                               # the call this worker has yet to leave
        while True:
            if plan is None:
                news = spin.wait_for_change(self._flags, 0, seen, SPIN_ROUNDS)
            else:
                news, plan = _leave_and_wait(plan, self._flags, seen, SPIN_ROUNDS), None
            if news == seen:
                with self._awake:                 # nothing for a while: sleep until a job comes
                    self._sleeping += 1           # (_post sets _job before it looks at this)
                    self._awake.wait_for(lambda: self._job[0] != seen)
                    self._sleeping -= 1
                continue
            seen, work, helpers = self._job       # the latest job (may be newer than the flag)
            if work is None:
                return
            if index >= helpers:
                continue
            try:
                plan = work(None)                 # a schedule to leave, or None
            except BaseException:                 # noqa: BLE001 - recorded by work itself
                pass


@njit(cache=True, nogil=True)
def _leave_and_wait(plan, flags, seen, rounds):
    """A worker's way out of a call and into the wait for the next job, in one compiled call:
    BUSY - 1 on ``plan``, then spin.wait_for_change(flags, 0, seen, rounds). The call returns
    only once its workers have left (_over), and a worker that has left runs no Python (which
    needs the GIL) until the next job: with Python in between, the worker often found the GIL
    taken by the calling thread's next call and slept until the operating system woke it, 50-100
    us after that call's chunks had begun."""
    spin.fetch_add(plan, _BUSY, -1)
    return spin.wait_for_change(flags, 0, seen, rounds)


def _no_work(go):
    """The job left posted after a call: no worker runs it (helpers 0)."""


def _workers():
    """The worker threads, made on first use."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = _Workers()
        return _pool


def stop_workers():
    """Stop the worker threads (their scratch buffers go with them); made again when next needed.
    Waits for a convolution that uses them to end."""
    global _pool
    with _parallel, _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.stop()


def _after_fork_in_child():
    """In a forked child the worker threads are gone, and so is any thread that held the locks or
    was to restore BLAS's thread count: start afresh."""
    global _lock, _pool, _parallel, _restore_blas
    _lock, _pool, _parallel = threading.Lock(), None, threading.Lock()
    if _restore_blas is not None:
        _restore_blas()
        _restore_blas = None


os.register_at_fork(after_in_child=_after_fork_in_child)


# The schedule of one call: an int64 array of counters, each on a cache line of its own
# (spin.FLAG_STRIDE entries apart), then the chunks' bounds: chunk i is images
# schedule[_BOUNDS + i] to schedule[_BOUNDS + i + 1].
_NEXT = 0                              # the next chunk to take (each thread adds 1 and gets it)
_FINISHED = 1 * spin.FLAG_STRIDE       # chunks done
_ADDED = 2 * spin.FLAG_STRIDE          # chunks whose results are in the sum (add_in_order)
_FAILED = 3 * spin.FLAG_STRIDE         # 1 once a thread raised: the others take no more chunks
_BUSY = 4 * spin.FLAG_STRIDE           # threads inside the call's work now
_BOUNDS = 5 * spin.FLAG_STRIDE


def schedule(runs):
    """The schedule of the chunks ``runs`` [(start, stop), ...], none taken yet."""
    plan = np.zeros(_BOUNDS + len(runs) + 1, np.int64)
    plan[_BOUNDS + 1:] = [stop for _, stop in runs]
    return plan


@njit(cache=True, nogil=True)
def next_chunk(plan, go, previous):
    """(index, start, stop) of the next chunk this thread takes: the next one no thread has taken
    yet; index -1 when none is left or a thread failed. ``previous``: the chunk this thread just
    did (counted done now), or -1 on the first call, which publishes ``go`` (flags, index, value)
    first (see _Workers). A compiled chunk loop reads:

        index, start, stop = next_chunk(plan, go, -1)
        while index >= 0:
            ...                                   # images start:stop
            index, start, stop = next_chunk(plan, go, index)
    """
    if previous < 0:
        spin.publish_if(go[0], go[1], go[2])
    else:
        spin.fetch_add(plan, _FINISHED, 1)
    count = plan.size - _BOUNDS - 1
    if spin.load(plan, _FAILED) == 0:
        index = spin.fetch_add(plan, _NEXT, 1)
        if index < count:
            return index, plan[_BOUNDS + index], plan[_BOUNDS + index + 1]
    return -1, 0, 0


@njit(cache=True, nogil=True, inline="always")
def part_of(index, part, total):
    """Where chunk ``index`` makes its part of a sum: in ``total`` itself for chunk 0 (its part
    starts the sum, with no copy), else in this thread's ``part``, which add_in_order adds."""
    return total if index == 0 else part


@njit(cache=True, nogil=True)
def add_in_order(plan, index, part, total):
    """total += part once the parts of every earlier chunk are in (chunk 0 made its part in total,
    part_of): the sum has the same rounding whichever thread made which part. The thread waits
    (spinning) for the earlier chunks; it has taken no new chunk meanwhile, so one part per thread
    is all the memory the sum needs. part and total: C-contiguous arrays of one shape."""
    while spin.load(plan, _ADDED) != index:
        if spin.load(plan, _FAILED) != 0:
            return
        spin.pause()
    if index > 0:
        t, p = total.reshape(-1), part.reshape(-1)
        t += p
    spin.publish(plan, _ADDED, index + 1)


@njit(cache=True, nogil=True)
def _over(plan, rounds):
    """True once no thread is inside the work any more and every chunk is done or a thread failed;
    False after ``rounds`` rounds of loads and a yield."""
    count = plan.size - _BOUNDS - 1
    for _ in range(rounds):
        if spin.load(plan, _BUSY) == 0:
            if spin.load(plan, _FINISHED) == count or spin.load(plan, _FAILED) != 0:
                return True
        spin.pause()
    return False


_NO_GO = (np.zeros(1, np.int64), 0, 0)              # publish_if with value 0: nothing to publish


def _drained(work, plan, go, images):
    """work(plan, go, images), which must return only once next_chunk gave it no chunk: else the
    chunks left would never be done (and the threads waiting for them would wait for ever)."""
    work(plan, go, images)
    if spin.load(plan, _FAILED) == 0 and spin.load(plan, _NEXT) < plan.size - _BOUNDS - 1:
        raise RuntimeError(f"{getattr(work, '__qualname__', work)} returned before next_chunk ran out "
                           "of chunks")


def over_chunks(work, n, entries_per_image, itemsize, work_per_image=None):
    """Run the chunks of the batch of n images through work(plan, go, images), on the calling
    thread, or on numba.get_num_threads() threads (the calling one and workers) with BLAS on one
    thread each. ``work`` gets this thread's scratch buffers, sized for ``images`` (the largest
    chunk), and passes them with ``plan`` and ``go`` to a compiled loop over the chunks it takes
    (next_chunk), so that each thread enters Python once a call, not once a chunk: a thread slowed
    by other work takes fewer chunks, and results summed with add_in_order come out the same on
    every run (see the module docstring).
    ``entries_per_image``: the entries of one image's intermediate arrays, which set the chunk size
    (0: none, one chunk per thread); ``work_per_image``: the entries one image's work touches,
    which decide whether to use the workers (PARALLEL_MIN_WORK; by default entries_per_image)."""
    threads = numba.get_num_threads()
    touched = n * (entries_per_image if work_per_image is None else work_per_image)
    wanted = threads if touched >= PARALLEL_MIN_WORK else 1
    runs = chunks(n, entries_per_image * itemsize, wanted)
    wanted = min(wanted, len(runs))
    plan, count = schedule(runs), len(runs)
    images = max((stop - start for start, stop in runs), default=0)
    if threads == 1:                              # BLAS's own thread count is the user's then
        _drained(work, plan, _NO_GO, images)
        return
    with _workers_and_one_blas_thread() as parallel:
        if not parallel or wanted <= 1:           # small, or another call has the workers: the
            _drained(work, plan, _NO_GO, images)  # same chunks on this thread, the same numbers
            return

        errors = []

        def on_thread(go=None):
            """The call's work on one thread; a worker (go None) returns the schedule, which it
            leaves in _leave_and_wait."""
            spin.fetch_add(plan, _BUSY, 1)
            try:                                  # a worker that came late finds nothing left
                if spin.load(plan, _NEXT) < count and spin.load(plan, _FAILED) == 0:
                    _drained(work, plan, go or _NO_GO, images)
            except BaseException as error:
                errors.append(error)              # before _FAILED, which lets the caller look
                spin.publish(plan, _FAILED, 1)
                spin.fetch_add(plan, _BUSY, -1)
                raise
            if go is None:
                return plan
            spin.fetch_add(plan, _BUSY, -1)
            return None

        _workers().run(plan, on_thread, wanted - 1)   # the calling thread works too
    if errors:                                    # a worker's (the calling thread's is raised)
        raise errors[0]
