"""The library's one random source, so `manual_seed(n)` makes a run repeatable.

Weight initialisation, dropout masks, `randn` and data shuffling/augmentation
all draw from generators seeded here. Other modules register a callback with
`on_seed` to reseed their own generators when `manual_seed` is called.
"""
from __future__ import annotations

import numpy as np

_rng = np.random.default_rng()
_listeners = []


def get_rng() -> np.random.Generator:
    """The shared generator (use it; do not keep a reference across manual_seed calls)."""
    return _rng


def on_seed(callback) -> None:
    """Call `callback(seed)` whenever `manual_seed(seed)` runs."""
    _listeners.append(callback)


def manual_seed(seed: int) -> None:
    """Seed every random source minicnn uses (weights, dropout, shuffling, augmentation)."""
    global _rng
    _rng = np.random.default_rng(seed)
    for callback in _listeners:
        callback(seed)
