"""Set-up of the numba.cuda kernel tests: record every kernel launch under the simulator.

tests/conftest.py turns on Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) when no GPU is found.
Under the simulator, kernels run as Python and are never compiled for a GPU, so a kernel that types
wrongly for the real target would pass here. To catch that, every launch's kernel and argument
types are recorded; test_kernels_compile_for_a_gpu then compiles each with NVVM (no GPU needed).

The simulator's cuda.shared.array is also made thread-safe here (fixture `one_shared_array_per_block`):
without that, a thread of a block now and then gets a "shared" array of its own, and a block
reduction (launch.block_sum) silently returns a wrong sum.
"""
import sys
import threading

import numpy as np
import pytest

_LAUNCHES = set()


def _describe(arg):
    """A JSON-able description of a kernel argument's Numba type."""
    if hasattr(arg, "_numba_type_"):                          # a (simulated) device array
        return ["array", str(arg.dtype), arg.ndim, arg._numba_type_.layout]
    if isinstance(arg, (bool, np.bool_)):
        return ["scalar", "bool"]
    if isinstance(arg, np.generic):
        return ["scalar", str(arg.dtype)]
    return ["scalar", "int64" if isinstance(arg, int) else "float64"]


@pytest.fixture(scope="session", autouse=True)
def kernel_launches():
    """The set of (module, kernel name, argument types) launched so far (empty on a real GPU)."""
    try:
        from numba import cuda
        from numba.cuda.simulator import kernel as sim
    except Exception:                                         # no numba-cuda: the tests skip
        yield _LAUNCHES
        return
    if not cuda.config.ENABLE_CUDASIM or not hasattr(sim, "FakeCUDAKernel"):
        yield _LAUNCHES
        return
    launch = sim.FakeCUDAKernel.__call__

    def recording_launch(self, *args):
        if not self._device and sim._get_kernel_context() is None:     # a launch from the host
            _LAUNCHES.add((self.fn.__module__, self.fn.__qualname__, tuple(tuple(_describe(a)) for a in args)))
        return launch(self, *args)

    sim.FakeCUDAKernel.__call__ = recording_launch
    yield _LAUNCHES
    sim.FakeCUDAKernel.__call__ = launch


_SHARED_LOCK = threading.Lock()
_SIMULATED_SHARED_ARRAY = None                # the simulator's FakeCUDAShared.array, while replaced


def _shared_array(self, shape, dtype, *args, **kwargs):
    """FakeCUDAShared.array, with the look-up and creation of a line's array under one lock.

    The simulator's own version (numba.cuda.simulator.kernelapi) looks the array of the calling
    source line up in the block's dict and, when missing, creates and stores it, with no lock. The
    block's threads are Python threads that all reach that line at once: one switched out between the
    look-up and the store lets a second create another array, and the two threads then write and read
    different memory, which a barrier cannot fix (e.g. block_sum: one thread's share is lost, or one
    thread returns a sum of its own uninitialised array). Same keys as the simulator (the caller's
    file and line, so each cuda.shared.array line is one array per block); dynamic shared memory
    (shape 0), made once per block already, and any other argument are left to the simulator."""
    if shape == 0 or args or kwargs:
        return _SIMULATED_SHARED_ARRAY(self, shape, dtype, *args, **kwargs)
    from numba.cuda import types
    from numba.cuda.np import numpy_support
    if isinstance(dtype, types.Type):
        dtype = numpy_support.as_dtype(dtype)
    caller = sys._getframe(1)
    key = (caller.f_code.co_filename, caller.f_lineno)
    with _SHARED_LOCK:
        res = self._allocations.get(key)
        if res is None:
            res = self._allocations[key] = np.empty(shape, dtype)
    return res


@pytest.fixture(scope="session", autouse=True)
def one_shared_array_per_block():
    """Under the simulator, every thread of a block gets the same cuda.shared.array (see _shared_array)."""
    global _SIMULATED_SHARED_ARRAY
    try:
        from numba import cuda
        from numba.cuda.simulator import kernelapi
    except Exception:                                         # no numba-cuda: the tests skip
        yield
        return
    if not cuda.config.ENABLE_CUDASIM or not hasattr(kernelapi, "FakeCUDAShared"):
        yield
        return
    _SIMULATED_SHARED_ARRAY = kernelapi.FakeCUDAShared.array
    kernelapi.FakeCUDAShared.array = _shared_array
    yield
    kernelapi.FakeCUDAShared.array = _SIMULATED_SHARED_ARRAY
