"""How the CUDA kernels are launched, and the device-array helpers they share.

Grid-stride loops: the kernels give each thread whole output elements,

    for e in range(cuda.grid(1), n, cuda.gridsize(1)):     # thread t handles t, t + T, t + 2T, ...
        ...one output element...

so the result does not depend on the grid size. On a GPU ``grid_1d`` launches one thread per element
(the loop runs once); under Numba's CUDA simulator, which runs every simulated thread as a Python
thread, it launches a few threads that loop over many elements, which keeps the simulated tests
fast and exercises the loop. ``TILE`` is the edge of a matrix-product tile (a block is TILE x TILE
threads): 16 on a GPU, 4 under the simulator so that small test matrices still span several tiles.

Kernels compile on first call for the dtypes they meet and are cached on disk (``cache=True``), as
the CPU kernels are. Device arrays are numba.cuda DeviceNDArrays (simulated: FakeCUDAArrays).
Inside a kernel ``a.dtype.type(0)`` is a zero of the array's dtype: sums start from it so that
float32 arrays are summed in float32 (float64 arithmetic is slow on most GPUs).
"""
import math

import numpy as np
from numba import cuda

SIMULATED = bool(cuda.config.ENABLE_CUDASIM)
THREADS = 32 if SIMULATED else 256         # threads per block of a 1-D kernel (a power of two)
MAX_BLOCKS = 2 if SIMULATED else 65535     # grid-stride loops cover whatever the grid leaves
TILE = 4 if SIMULATED else 16


def grid_1d(n):
    """(blocks, threads) for a grid-stride kernel over n elements."""
    return max(1, min(math.ceil(n / THREADS), MAX_BLOCKS)), THREADS


@cuda.jit(device=True)
def unravel4(e, shape):
    """(i0, i1, i2, i3): the index of flat position e in a C-ordered 4-D array of ``shape``."""
    i3 = e % shape[3]
    e //= shape[3]
    i2 = e % shape[2]
    e //= shape[2]
    return e // shape[1], e % shape[1], i2, i3


@cuda.jit(device=True)
def block_sum(value, partial):
    """The sum of every thread's ``value`` over the block, returned to every thread.

    ``partial`` is a shared array of blockDim.x entries (a power of two). The block halves the
    partial sums until one is left: a tree reduction, log2(threads) steps instead of threads."""
    t = cuda.threadIdx.x
    partial[t] = value
    cuda.syncthreads()
    step = cuda.blockDim.x // 2
    while step > 0:
        if t < step:
            partial[t] += partial[t + step]
        cuda.syncthreads()
        step //= 2
    total = partial[0]
    cuda.syncthreads()                            # all have read it before partial is reused
    return total


@cuda.jit(cache=True)
def _fill(a, value):
    for e in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        a[e] = value


@cuda.jit(cache=True)
def _copy(src, dst):
    for e in range(cuda.grid(1), dst.size, cuda.gridsize(1)):
        dst[e] = src[e]


def is_device_array(a):
    """True for a numba.cuda device array (real or simulated); both carry ``__cuda_ndarray__``."""
    return bool(getattr(a, "__cuda_ndarray__", False))


def flat(a, name="array"):
    """The 1-D view of a C-contiguous device array (element-wise kernels walk arrays flat)."""
    if not a.is_c_contiguous():
        raise ValueError(f"minicnn.kernels.cuda: {name} of shape {tuple(a.shape)} must be C-contiguous "
                         "on the GPU (copy it into a fresh device array first)")
    return a.reshape(a.size)


def as_ncl(a, name="array"):
    """(N, C, *) -> the (N, C, L) view of a C-contiguous device array (per-channel kernels)."""
    if not a.is_c_contiguous():
        flat(a, name)                             # raises the error
    return a.reshape(a.shape[0], a.shape[1], a.size // (a.shape[0] * a.shape[1]) if a.size else 0)


def empty(shape, dtype):
    """An uninitialised device array (C order) of ``shape`` (an int or a tuple)."""
    shape = (shape,) if np.ndim(shape) == 0 else shape
    return cuda.device_array(tuple(int(s) for s in shape), np.dtype(dtype))


def full(shape, value, dtype):
    """A device array filled with ``value`` (a kernel: no host-to-device copy of the whole array)."""
    a = empty(shape, dtype)
    fill(a, value)
    return a


def fill(a, value):
    """Set every element of the C-contiguous device array ``a`` to ``value`` in place."""
    if a.size:
        _fill[grid_1d(a.size)](flat(a), a.dtype.type(value))
    return a


def as_device(a, dtype=None, name="array"):
    """``a`` as a device array of ``dtype`` (default: its own): a NumPy array is copied to the GPU,
    a device array of another dtype is cast by a kernel, anything else raises TypeError."""
    if isinstance(a, np.ndarray):
        return cuda.to_device(np.require(a, dtype, "C"))         # (ascontiguousarray makes 0-d 1-d)
    if not is_device_array(a):
        raise TypeError(f"minicnn.kernels.cuda: {name} must be a numba.cuda device array or a NumPy array, "
                        f"got {type(a).__name__}")
    if dtype is None or np.dtype(dtype) == a.dtype:
        return a
    out = empty(a.shape, dtype)
    if a.size:
        _copy[grid_1d(a.size)](flat(a, name), flat(out))
    return out
