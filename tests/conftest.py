"""Shared test set-up: hypothesis profiles and markers.

HYPOTHESIS_PROFILE=thorough runs many more examples; the default profile is
sized for 2 CPU cores. Numba compiles on first call, so no deadlines.
"""
import os
import shutil
import subprocess


def _nvidia_gpu_present():
    """True when nvidia-smi lists a GPU: the numba.cuda tests then run on it, not on the simulator."""
    smi = shutil.which("nvidia-smi")
    try:
        return smi is not None and "GPU" in subprocess.run([smi, "-L"], capture_output=True, text=True,
                                                           timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False


if not _nvidia_gpu_present():                     # before numba is first imported in this process
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=15, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=300, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    import minicnn

    minicnn.manual_seed(0)
    np.random.seed(0)
