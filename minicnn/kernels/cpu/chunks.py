"""Run a convolution (or a linear layer's products, linear.py, or a pooling kernel, pool.py) a
chunk of the batch at a time, on one thread or several.

Why chunks: a convolution's intermediate arrays (im2col's columns, Winograd's transformed tiles)
are many times the size of its input: 19 MB for a 64-image batch of 32-channel 16x16 maps and a
3x3 kernel. Made for the whole batch at once, they are written to memory by one pass and read back
by the next, and the matrix product then runs at half its speed. A chunk of images whose
intermediates fit in a core's L2 cache (CHUNK_BYTES) goes through every pass without leaving
the cache. On one thread the chunks simply run in turn (``_one_after_another``).

The chunks are also how several threads share the work: with ``numba.get_num_threads()`` > 1, each
chunk runs whole on one worker thread, with BLAS on one thread (blas.limit_threads), the way PyTorch
splits a convolution over the batch. Each chunk is one compiled function that releases the GIL
(``nogil``) and calls BLAS itself (conv.py, blas.py). Work under PARALLEL_MIN_WORK array
entries runs on the calling thread: handing it to a worker costs more than it saves. Pooling keeps
no intermediates, and takes one chunk per thread. One call at a time uses the workers; a call made
meanwhile from another thread runs the same chunks on its own thread, so that BLAS's process-wide
thread count is lowered and restored by one thread only.

The workers wait for work spinning on a flag, not sleeping (spin.py, ``_Workers``): woken from a
ThreadPoolExecutor's queue, a worker started 50 us to over 1 ms after the call, which made LeNet-5's
C3 (0.1-0.5 ms a chunk) slower on two threads than on one.
"""
import contextlib
import os
import threading

import numba
import numpy as np

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
    SPIN_ROUNDS without any. ``run(order, work, helpers)`` runs work(go) on the calling thread and
    work(None) on the first ``helpers`` workers, and returns once the chunks of ``order`` are all
    done. Flag 0 holds the number of the latest job, flag 1 the last job whose chunks are done.

    The calling thread holds the GIL from the moment it posts a job until its first chunk's
    compiled code starts, and a worker that asks for the GIL meanwhile sleeps until the operating
    system wakes it (up to 1 ms here). So the job's number is published by that compiled code
    itself: ``go`` = (flags, 0, number), which conv.py's chunk functions pass to
    spin.publish_if. A worker then finds the GIL free. Sleeping workers are told at once."""

    def __init__(self):
        self._flags = np.zeros(2 * spin.FLAG_STRIDE, np.int64)
        self._job = (0, None, 0)                  # (number, work, helpers); work None: stop
        self._threads = []
        self._errors = []
        self._awake = threading.Condition()       # for sleeping workers
        self._sleeping = 0

    def run(self, order, work, helpers):
        """work(go) here and work(None) on ``helpers`` workers (started when missing) until order
        is over; a worker's error is raised here."""
        while len(self._threads) < helpers:
            thread = threading.Thread(target=self._serve, args=(len(self._threads), self._job[0]),
                                      name=f"minicnn-worker-{len(self._threads)}", daemon=True)
            self._threads.append(thread)
            thread.start()
        self._errors.clear()
        number = self._job[0] + 1
        order.done = (self._flags, spin.FLAG_STRIDE, number)
        self._post(work, helpers, number, now=False)
        try:
            work((self._flags, 0, number))
        finally:
            while not spin.wait_for_all(self._flags, spin.FLAG_STRIDE, 1, number, JOIN_ROUNDS):
                pass                              # a chunk a worker took is still running
        if self._errors:
            raise self._errors.pop()

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
        while True:
            if spin.wait_for_change(self._flags, 0, seen, SPIN_ROUNDS) == seen:
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
                work(None)
            except BaseException as error:        # noqa: BLE001 - raised by run()
                self._errors.append(error)


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


class _InOrder:
    """The chunks of one call, handed out in order to whichever thread is free, and their results
    added up in chunk order whichever thread made them, so that the sum has the same rounding on
    every run. One thread at a time adds (the others go on computing); a result that comes early
    waits, and no chunk is taken more than 2 per thread ahead of the sum, which bounds the results
    kept waiting."""

    def __init__(self, count, threads):
        self._count, self._ahead = count, 2 * max(1, threads)
        self._taken = self._added = self._running = 0
        self._early = {}                          # chunk index -> its result, not added yet
        self._adding = self._failed = self._over = False
        self._changed = threading.Condition()
        self.total = None
        self.done = None                          # (flags, index, value) published once over

    def _check_over(self):
        """Publish ``done`` once every chunk is added, or a chunk failed and none still runs.
        Called with the lock held."""
        if not self._over and (self._added == self._count or (self._failed and self._running == 0)):
            self._over = True
            if self.done is not None:
                spin.publish(*self.done)

    def take(self):
        """The index of the next chunk to compute, or None when none is left (or a chunk failed)."""
        with self._changed:
            self._changed.wait_for(lambda: self._failed or self._taken == self._count
                                   or self._taken - self._added < self._ahead)
            if self._failed or self._taken == self._count:
                return None
            self._taken += 1
            self._running += 1
            return self._taken - 1

    def put(self, index, part):
        """Chunk ``index``'s result; added now if every earlier one has been."""
        with self._changed:
            self._running -= 1
            self._early[index] = part
            if self._adding or self._failed:      # the thread adding now will take it
                self._check_over()
                return
            self._adding = True
        while True:
            with self._changed:
                if self._added not in self._early:
                    self._adding = False
                    return
                part = self._early.pop(self._added)
            self.total = _added(self.total, part)
            with self._changed:
                self._added += 1
                self._changed.notify_all()
                self._check_over()

    def fail(self):
        """A chunk raised: the other threads stop taking chunks (its result will never come)."""
        with self._changed:
            self._failed = True
            self._running -= 1
            self._changed.notify_all()
            self._check_over()


def _added(total, part):
    """total + part, in total's memory (part itself when total is None; total when part is None)."""
    if part is None:
        return total
    return part if total is None else np.add(total, part, out=total)


_NO_GO = (np.zeros(1, np.int64), 0, 0)              # publish_if with value 0: nothing to publish


def _one_after_another(task, runs):
    """The sum of the chunks' results, each chunk run on this thread in turn: the same sum as
    _InOrder's, without its locks, which cost 6-7 us a chunk (0.2 ms for a Winograd layer's 32)."""
    total = None
    for start, stop in runs:
        total = _added(total, task(start, stop, _NO_GO))
    return total


def over_chunks(task, n, entries_per_image, itemsize, work_per_image=None):
    """The sum of task(start, stop, go) over the chunks of the batch (None when the task returns
    None), run on the calling thread, or on numba.get_num_threads() threads (the calling one and
    workers) with BLAS on one thread each. The threads take the chunks one at a time, each the next
    one left when it is free (a thread slowed by other work takes fewer), and the results are added
    in chunk order: the same numbers on every run and on one thread as on several.
    ``go`` (flags, index, value): for the task's compiled code to pass to spin.publish_if first
    thing (see _Workers). ``entries_per_image``: the entries of one image's intermediate arrays,
    which set the chunk size (0: none, one chunk per thread); ``work_per_image``: the entries one
    image's work touches, which decide whether to use the workers (PARALLEL_MIN_WORK;
    by default entries_per_image)."""
    threads = numba.get_num_threads()
    touched = n * (entries_per_image if work_per_image is None else work_per_image)
    wanted = threads if touched >= PARALLEL_MIN_WORK else 1
    runs = chunks(n, entries_per_image * itemsize, wanted)
    wanted = min(wanted, len(runs))
    if threads == 1:                              # BLAS's own thread count is the user's then
        return _one_after_another(task, runs)
    with _workers_and_one_blas_thread() as parallel:
        if not parallel or wanted <= 1:           # small, or another call has the workers: the
            return _one_after_another(task, runs)     # same chunks on this thread, the same numbers
        order = _InOrder(len(runs), wanted)

        def work(go=None):
            while (index := order.take()) is not None:
                try:
                    part = task(*runs[index], go or _NO_GO)
                except BaseException:
                    order.fail()
                    raise
                if go is not None:                # published by the task's compiled code, or
                    spin.publish(*go)             # now, for a task that has none
                    go = None
                order.put(index, part)

        _workers().run(order, work, wanted - 1)   # the calling thread works too
    return order.total
