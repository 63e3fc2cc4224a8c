"""NumPy's BLAS matrix product (GEMM), called from Numba code without the GIL.

Why: a chunk of a convolution (conv.py) is im2col, one or two GEMMs and a layout change. Run from
Python, each of those calls gives the GIL up and takes it back, and on several threads a thread
that finds the GIL taken sleeps until the operating system wakes it: 50 us to 1 ms on the virtual
machines the benchmarks ran on, as long as a LeNet-5 chunk. Compiled as one Numba function
that calls the GEMM itself, a chunk takes the GIL once. (Numba's own np.dot calls SciPy's BLAS,
another OpenBLAS build, which ran LeNet-5's C3 products 15% slower than NumPy's.)

How: the BLAS library NumPy loaded (found by threadpoolctl) exports cblas_sgemm and cblas_dgemm for
64-bit integers (``scipy_cblas_sgemm64_`` in NumPy's wheels). Their addresses are registered with
LLVM under the names ``minicnn_sgemm`` and ``minicnn_dgemm`` (llvmlite.binding.add_symbol), which
the compiled code calls, so that Numba's cached machine code is linked to them again in every
process. Where no such library is found (a NumPy built with another BLAS), the names point to
``_numpy_gemm``, a Python function doing the same product with NumPy: the same numbers, with the
GIL taken for each product.

``gemm(trans_a, trans_b, a, b, beta, c)``: c = op(a) @ op(b) + beta * c, op(m) = m.T when its
flag is set; a, b, c 2-D arrays of one dtype (float32 or float64) whose rows are contiguous.
"""
import ctypes

import llvmlite.binding as llvm
import numpy as np
import threadpoolctl
from numba import njit, types

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112            # the CBLAS enums
_SYMBOLS = {"s": ("scipy_cblas_sgemm64_", "cblas_sgemm64_"), "d": ("scipy_cblas_dgemm64_", "cblas_dgemm64_")}


def _signature(real):
    """cblas_?gemm's C signature with 64-bit integers, for ctypes (real: c_float or c_double)."""
    i32, i64, ptr = ctypes.c_int, ctypes.c_int64, ctypes.c_void_p
    return ctypes.CFUNCTYPE(None, i32, i32, i32, i64, i64, i64, real, ptr, i64, ptr, i64, real, ptr, i64)


def _numpy_gemm(dtype):
    """A Python cblas_?gemm (row-major only) doing the product with np.matmul: the fallback."""
    def gemm(layout, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        def matrix(address, rows, cols, ld):
            pointer = ctypes.cast(address, ctypes.POINTER(np.ctypeslib.as_ctypes_type(dtype)))
            flat = np.ctypeslib.as_array(pointer, shape=(max(0, (rows - 1) * ld + cols),))
            return np.lib.stride_tricks.as_strided(flat, (rows, cols), (ld * flat.itemsize, flat.itemsize))
        op_a = matrix(a, k, m, lda).T if trans_a == _TRANS else matrix(a, m, k, lda)
        op_b = matrix(b, n, k, ldb).T if trans_b == _TRANS else matrix(b, k, n, ldb)
        out = matrix(c, m, n, ldc)
        product = alpha * (op_a @ op_b)
        out[...] = product if beta == 0 else product + beta * out
    return gemm


def _numpy_blas_library():
    """ctypes handle of the BLAS library NumPy uses, or None."""
    for info in threadpoolctl.ThreadpoolController().select(user_api="blas").info():
        if "numpy" in info["filepath"]:
            return ctypes.CDLL(info["filepath"])
    return None


def _register(library):
    """Point minicnn_sgemm and minicnn_dgemm at ``library`` (NumPy's BLAS), else at _numpy_gemm;
    True if at the library."""
    found = True
    for kind, real, dtype in (("s", ctypes.c_float, np.float32), ("d", ctypes.c_double, np.float64)):
        address = None
        for name in _SYMBOLS[kind] if library is not None else ():
            if hasattr(library, name):
                address = ctypes.cast(getattr(library, name), ctypes.c_void_p).value
                break
        if address is None:
            found = False
            _fallbacks[kind] = _signature(real)(_numpy_gemm(dtype))       # kept alive here
            address = ctypes.cast(_fallbacks[kind], ctypes.c_void_p).value
        llvm.add_symbol(f"minicnn_{kind}gemm", address)
    return found


_fallbacks = {}
_library = _numpy_blas_library()
USES_NUMPY_BLAS = _register(_library)
"""True when the products run in NumPy's BLAS without the GIL; False: in _numpy_gemm."""


def _thread_functions(library):
    """(get, set) of the library's thread count (OpenBLAS's ILP64 names), or None."""
    for get, set_ in (("scipy_openblas_get_num_threads64_", "scipy_openblas_set_num_threads64_"),
                      ("openblas_get_num_threads64_", "openblas_set_num_threads64_")):
        if library is not None and hasattr(library, get) and hasattr(library, set_):
            getter, setter = getattr(library, get), getattr(library, set_)
            getter.restype, getter.argtypes = ctypes.c_int, []
            setter.restype, setter.argtypes = None, [ctypes.c_int]
            return getter, setter
    return None


_threads = _thread_functions(_library) if USES_NUMPY_BLAS else None
_controller = None                                       # threadpoolctl's, when _threads is None


def limit_threads(count):
    """Run NumPy's BLAS on ``count`` threads (process-wide) until the returned function is called,
    which restores the count it had. Two ctypes calls when NumPy's OpenBLAS is the one used
    (threadpoolctl took 27-73 us for the same, a conv call's whole setup); else threadpoolctl."""
    global _controller
    if _threads is not None:
        get, set_ = _threads
        old = get()
        if old == count:
            return lambda: None
        set_(count)
        return lambda: set_(old)
    _controller = _controller or threadpoolctl.ThreadpoolController()
    return _controller.limit(limits=count, user_api="blas").restore_original_limits


def _external(name, real):
    i32, i64, ptr = types.int32, types.int64, types.voidptr
    return types.ExternalFunction(name, types.void(i32, i32, i32, i64, i64, i64, real, ptr, i64, ptr, i64,
                                                   real, ptr, i64))


_sgemm = _external("minicnn_sgemm", types.float32)
_dgemm = _external("minicnn_dgemm", types.float64)


@njit(cache=True, nogil=True, inline="always")
def _leading(m):
    """The distance between m's rows in entries (BLAS's lda), which BLAS wants >= max(1, columns)."""
    if m.shape[1] > 1 and m.shape[0] > 0 and m.strides[1] != m.itemsize:
        raise ValueError("gemm: the rows of each matrix must be contiguous")
    return max(m.strides[0] // m.itemsize, m.shape[1], 1)


@njit(cache=True, nogil=True)
def gemm(trans_a, trans_b, a, b, beta, c):
    """c = op(a) @ op(b) + beta * c (see the module docstring)."""
    m, n = c.shape
    k = a.shape[0] if trans_a else a.shape[1]
    if m == 0 or n == 0:
        return
    ta, tb = np.int32(_TRANS if trans_a else _NO_TRANS), np.int32(_TRANS if trans_b else _NO_TRANS)
    lda, ldb, ldc = _leading(a), _leading(b), _leading(c)
    if c.itemsize == 4:                           # float32
        _sgemm(np.int32(_ROW_MAJOR), ta, tb, m, n, k, np.float32(1), a.ctypes, lda, b.ctypes, ldb,
               np.float32(beta), c.ctypes, ldc)
    else:
        _dgemm(np.int32(_ROW_MAJOR), ta, tb, m, n, k, 1.0, a.ctypes, lda, b.ctypes, ldb,
               np.float64(beta), c.ctypes, ldc)
