"""Set-up of the numba.cuda kernel tests: record every kernel launch under the simulator.

tests/conftest.py turns on Numba's CUDA simulator (NUMBA_ENABLE_CUDASIM=1) when no GPU is found.
Under the simulator, kernels run as Python and are never compiled for a GPU, so a kernel that types
wrongly for the real target would pass here. To catch that, every launch's kernel and argument
types are recorded; test_kernels_compile_for_a_gpu then compiles each with NVVM (no GPU needed).
"""
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
