"""Reused scratch arrays for the convolution kernels of both backends.

A fresh array of many megabytes costs a page fault per 4 KiB on the CPU (and an allocation on
the GPU) on every call, so the im2col column and row matrices live in per-thread buffers that
only grow and are handed out as views. Only the arrays a kernel returns are new.
"""
import math
import threading

import numpy as np


class ScratchBuffers:
    """Per-thread buffers by slot name and dtype, made with `allocate(size, dtype)`."""

    def __init__(self, allocate):
        self._allocate = allocate
        self._local = threading.local()

    def get(self, slot, shape, dtype):
        """A view of ``shape`` into the buffer of ``slot``, grown (freed and made again) when too small."""
        size = math.prod(shape)
        buffers = self._local.__dict__.setdefault("buffers", {})
        key = (slot, np.dtype(dtype))
        if key not in buffers or buffers[key].size < size:
            buffers.pop(key, None)                # free the old one before allocating the new one
            buffers[key] = self._allocate(size, dtype)
        return buffers[key][:size].reshape(shape)

    def release(self):
        """Free this thread's buffers (they are allocated again on the next call)."""
        self._local.__dict__.pop("buffers", None)
