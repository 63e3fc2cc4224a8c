"""Which kernels serve an array, and moving arrays between the host and the GPU.

    kernels = kernels_for(x)          # minicnn.kernels.cpu for a NumPy array,
    y = kernels.conv2d_forward(...)   # minicnn.kernels.cuda for a numba.cuda device array
    x_gpu = to_device(x); x = to_host(x_gpu); device_of(x_gpu) == "cuda"

Both kernel modules have the same names and signatures, so an op never branches on the device:
the array it holds decides. Importing this module never needs CUDA or the numba-cuda package:
numba.cuda is imported only when a device array shows up or a function below asks for the GPU.
"""
import os

import numpy as np

from . import cpu


def _numba_cuda():
    """numba.cuda, or None when it cannot be imported (no numba-cuda, broken CUDA install)."""
    try:
        from numba import cuda
    except Exception:                             # ImportError, or a CUDA library failing to load
        return None
    return cuda


def is_device_array(array):
    """True for a numba.cuda device array (also the CUDA simulator's): both carry __cuda_ndarray__."""
    return not isinstance(array, np.ndarray) and bool(getattr(array, "__cuda_ndarray__", False))


def device_of(array):
    """"cuda" for a numba.cuda device array, "cpu" for anything else (a NumPy array)."""
    return "cuda" if is_device_array(array) else "cpu"


def as_array(value):
    """``value`` as it is when it is a NumPy or a device array, else np.asarray(value) (a number)."""
    return value if isinstance(value, np.ndarray) or is_device_array(value) else np.asarray(value)


def kernels_for(array):
    """The kernel module for ``array``: minicnn.kernels.cpu for a NumPy array, minicnn.kernels.cuda
    for a numba.cuda device array. Anything else raises TypeError."""
    if isinstance(array, np.ndarray):
        return cpu
    if is_device_array(array):
        from . import cuda as cuda_kernels
        return cuda_kernels
    raise TypeError(f"no minicnn kernels for an array of type {type(array).__module__}.{type(array).__name__}: "
                    "expected a NumPy array (CPU) or a numba.cuda device array (GPU)")


def cuda_available():
    """True when numba.cuda can run kernels here: an NVIDIA GPU with a working driver, or the CUDA
    simulator (NUMBA_ENABLE_CUDASIM=1, see cuda_simulated)."""
    cuda = _numba_cuda()
    try:
        return cuda is not None and bool(cuda.is_available())
    except Exception:
        return False


def cuda_simulated():
    """True when numba.cuda is Numba's CUDA simulator: kernels run, slowly, as Python on the CPU."""
    cuda = _numba_cuda()
    if cuda is None:
        return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0")
    return bool(cuda.config.ENABLE_CUDASIM)


def to_device(array):
    """A device-array copy of ``array`` (a device array is returned as it is)."""
    if is_device_array(array):
        return array
    if not cuda_available():
        raise RuntimeError("to_device: no CUDA GPU is available (numba.cuda.is_available() is False, "
                           "or numba-cuda is not installed); minicnn runs on the CPU with NumPy arrays. "
                           "For testing without a GPU, set NUMBA_ENABLE_CUDASIM=1 before importing numba.")
    from numba import cuda
    return cuda.to_device(np.require(array, requirements="C"))     # (ascontiguousarray makes 0-d 1-d)


def to_host(array):
    """A NumPy array with the values of ``array`` (a NumPy array is returned as it is)."""
    if isinstance(array, np.ndarray):
        return array
    if is_device_array(array):
        return array.copy_to_host()
    raise TypeError(f"to_host: expected a NumPy array or a numba.cuda device array, got {type(array).__name__}")


def to_like(array, like):
    """``array`` (a NumPy array) copied to where ``like`` lives: to the GPU when ``like`` is a device
    array, else ``array`` itself."""
    return to_device(array) if is_device_array(like) else array
