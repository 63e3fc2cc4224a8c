"""Waiting without sleeping: the flags through which the convolution's worker threads (chunks.py)
are handed work and report it done.

Why spin: a thread that sleeps (on a lock, a queue or an event) is woken by the operating system,
which on the virtual machines the benchmarks ran on took 50 us to more than 1 ms: often not before
the thread that woke it had done all its own work. A LeNet-5 layer's chunk takes 0.1-0.5 ms, so
that wait was as long as the work it shared. A thread that spins, loading a flag again and again,
sees it change within a microsecond, and keeps its core. PyTorch's OpenMP threads spin between
operators for the same reason.

A spinning thread gives its core away between two loads (``sched_yield``, ``SwitchToThread`` on
Windows) to any thread that has work there: another library's thread pool (OpenBLAS's, Numba's)
then runs as if the spinner were not there. Without that, LeNet-5's training on two threads ran
1.6x slower than with the convolution workers asleep.

The flags are entries of an int64 array, each on a cache line of its own (FLAG_STRIDE entries
apart); the counters of a call's schedule (chunks.py) are such flags too, which threads add to
at once with ``fetch_add`` (one atomic step). They are loaded with acquire and stored with
release ordering, which keeps the compiler from hoisting the load out of the loop (a plain load
would be read once, and the loop would never end) and makes everything written before a store
visible to the thread that loads its value. The waits are compiled without the GIL, so a spinning
thread never holds it.
"""
import ctypes
import sys

import llvmlite.binding as llvm
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

FLAG_STRIDE = 8
"""Entries between two flags: 64 bytes, one cache line, so that two threads' flags do not share one."""


def _flag_pointer(context, builder, array_type, array, index):
    return cgutils.get_item_pointer(context, builder, array_type,
                                    context.make_array(array_type)(context, builder, array), [index])


@intrinsic
def _load_acquire(typingctx, flags, index):
    """flags[index], loaded atomically with acquire ordering."""
    def codegen(context, builder, signature, args):
        pointer = _flag_pointer(context, builder, signature.args[0], *args)
        return builder.load_atomic(pointer, ordering="acquire", align=8)
    return flags.dtype(flags, index), codegen


@intrinsic
def _fetch_add(typingctx, flags, index, amount):
    """flags[index] += amount, atomically (sequentially consistent); the value it had before."""
    def codegen(context, builder, signature, args):
        pointer = _flag_pointer(context, builder, signature.args[0], args[0], args[1])
        return builder.atomic_rmw("add", pointer, args[2], ordering="seq_cst")
    return flags.dtype(flags, index, flags.dtype), codegen


@intrinsic
def _store_release(typingctx, flags, index, value):
    """flags[index] = value, stored atomically with release ordering."""
    def codegen(context, builder, signature, args):
        pointer = _flag_pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store_atomic(args[2], pointer, ordering="release", align=8)
        return context.get_dummy_value()
    return types.none(flags, index, flags.dtype), codegen


def _yield_address():
    """The address of the C function that gives the calling thread's core to another thread."""
    if sys.platform == "win32":
        return ctypes.cast(ctypes.windll.kernel32.SwitchToThread, ctypes.c_void_p).value
    return ctypes.cast(ctypes.CDLL(None).sched_yield, ctypes.c_void_p).value


llvm.add_symbol("minicnn_yield", _yield_address())       # called by name: cached code links again
_yield = types.ExternalFunction("minicnn_yield", types.int32())


@njit(cache=True, nogil=True)
def publish(flags, index, value):
    """flags[index] = value, after everything this thread wrote before (release)."""
    _store_release(flags, index, value)


@njit(cache=True)
def load(flags, index):
    """flags[index], with everything the thread that published it wrote before (acquire). Called
    from Python it keeps the GIL, as fetch_add does."""
    return _load_acquire(flags, index)


@njit(cache=True)
def fetch_add(flags, index, amount):
    """flags[index] += amount as one atomic step, whichever threads add at once; the value before.
    Called from Python it keeps the GIL (no nogil): a call this short should not hand it over."""
    return _fetch_add(flags, index, amount)


@njit(cache=True, nogil=True, inline="always")
def pause():
    """Give this thread's core to another thread that has work there, between two loads of a spin."""
    _yield()


@njit(cache=True, nogil=True)
def publish_if(flags, index, value):
    """publish(flags, index, value) unless value is 0: for compiled code that publishes only when
    asked to (chunks.py's ``go``)."""
    if value != 0:
        _store_release(flags, index, value)


@njit(cache=True, nogil=True)
def wait_for_change(flags, index, old, rounds):
    """flags[index] once it differs from ``old``, or ``old`` after ``rounds`` loads, each followed
    by a yield of the core (0.2-0.5 us a round)."""
    for _ in range(rounds):
        value = _load_acquire(flags, index)
        if value != old:
            return value
        _yield()
    return old
