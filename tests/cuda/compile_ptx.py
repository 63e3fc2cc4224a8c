"""Compile recorded kernel launches to PTX for a real GPU, without a GPU (NVVM only).

    python tests/cuda/compile_ptx.py launches.json      (run WITHOUT NUMBA_ENABLE_CUDASIM)

launches.json: a list of [module, kernel name, [argument types]] as tests/cuda/conftest.py records
them. Prints "compiled N" on success; exits 3 when NVVM cannot be found (the caller skips then).
"""
import importlib
import json
import sys

import numpy as np
from numba import cuda, types
from numba.np.numpy_support import from_dtype


class _Device:
    """Device functions ask the current device for its compute capability: answer without one."""
    compute_capability = (7, 5)


def _type(desc):
    if desc[0] == "array":
        return types.Array(from_dtype(np.dtype(desc[1])), desc[2], desc[3])
    return from_dtype(np.dtype(desc[1]))


def _probe(a):
    a[0] = 1


def main(path):
    import numba.cuda.dispatcher
    numba.cuda.dispatcher.get_current_device = _Device
    try:
        cuda.compile_ptx(_probe, (types.float32[:],), cc=_Device.compute_capability)
    except Exception as error:                                # no NVVM / NVRTC libraries
        print(f"NVVM not available: {type(error).__name__}: {str(error).splitlines()[0]}")
        sys.exit(3)
    launches = json.load(open(path))
    for module, name, args in launches:
        kernel = getattr(importlib.import_module(module), name)
        try:
            cuda.compile_ptx(kernel.py_func, tuple(_type(a) for a in args), cc=_Device.compute_capability)
        except Exception as error:
            sys.exit(f"{module}.{name}{tuple(args)} does not compile for the GPU:\n{error}")
    print(f"compiled {len(launches)}")


if __name__ == "__main__":
    main(sys.argv[1])
