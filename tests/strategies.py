"""Hypothesis strategies for minicnn tests: shapes, broadcastable shape pairs, float arrays.

Sizes are kept small on purpose: a gradient check runs the forward pass twice
per input element, and the suite runs on 2 CPU cores.

    from strategies import shapes, broadcastable_shapes, float64_arrays, arrays_of
    @given(data=st.data())
    def test_x(data):
        shape_a, shape_b = data.draw(broadcastable_shapes())
        a = data.draw(float64_arrays(shape_a))
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    """Array shapes such as (), (3,), (2, 1, 4)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4):
    """A pair (shape_a, shape_b) that NumPy broadcasts together, e.g. ((2, 1, 3), (4, 1))."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side,
    ).map(lambda b: b.input_shapes)


def _inward(value: float, width: int, up: bool) -> float:
    """`value` rounded (towards the inside of the range) to a float of `width` bits."""
    if width == 64:
        return float(value)
    v = np.float32(value)
    if (up and float(v) < value) or (not up and float(v) > value):
        v = np.nextafter(v, np.float32(np.inf if up else -np.inf))
    return float(v)


def _elements(min_value: float, max_value: float, margin: float, width: int):
    """Floats in [min_value, max_value]; with margin > 0, none in (-margin, margin)."""
    floats = dict(allow_nan=False, allow_infinity=False, allow_subnormal=False, width=width)
    min_value, max_value = _inward(min_value, width, True), _inward(max_value, width, False)
    margin = _inward(margin, width, True)
    if margin <= 0 or min_value >= margin or max_value <= -margin:
        return st.floats(min_value, max_value, **floats)
    parts = []
    if max_value >= margin:
        parts.append(st.floats(margin, max_value, **floats))
    if min_value <= -margin:
        parts.append(st.floats(min_value, -margin, **floats))
    return st.one_of(*parts)


def arrays_of(dtype, shape, min_value: float = -2.0, max_value: float = 2.0, margin: float = 0.0):
    """Arrays of `dtype` and `shape` (a shape or a shape strategy) with finite values in range.

    margin > 0 keeps values at least `margin` away from 0 (kinks of relu/abs, poles of 1/x).
    """
    width = 32 if np.dtype(dtype) == np.float32 else 64
    return hnp.arrays(dtype, shape, elements=_elements(min_value, max_value, margin, width))


def float64_arrays(shape, min_value: float = -2.0, max_value: float = 2.0, margin: float = 0.0):
    """float64 arrays, the dtype gradient checks need."""
    return arrays_of(np.float64, shape, min_value, max_value, margin)


def float32_arrays(shape, min_value: float = -2.0, max_value: float = 2.0, margin: float = 0.0):
    """float32 arrays, the dtype training uses."""
    return arrays_of(np.float32, shape, min_value, max_value, margin)


@st.composite
def distinct_arrays(draw, shape, spacing: float = 0.1, dtype=np.float64):
    """Arrays whose values are pairwise at least `spacing` apart (no ties), shuffled.

    For max/argmax/pooling: with no ties, a nudge of eps cannot move the maximum, so
    finite differences agree with the analytic gradient.
    """
    shape = draw(shape) if isinstance(shape, st.SearchStrategy) else tuple(shape)
    n = int(np.prod(shape))
    order = draw(st.permutations(range(n)))
    offset = draw(st.floats(-1.0, 1.0))
    values = (np.asarray(order, dtype=np.float64) - n / 2) * spacing + offset
    return values.reshape(shape).astype(dtype)


def class_targets(n: int, num_classes: int):
    """Integer class labels, shape (n,), each in 0..num_classes-1 (int64, like torch)."""
    return hnp.arrays(np.int64, (n,), elements=st.integers(0, num_classes - 1))


@st.composite
def matmul_shapes(draw, max_batch_dims: int = 2, max_side: int = 4):
    """A pair of shapes that `@` accepts: vectors, matrices and broadcast batches.

    Returns (shape_a, shape_b), e.g. ((3,), (3,)), ((2, 3), (3, 4)), ((5, 2, 3), (3,)),
    ((2, 1, 2, 3), (4, 3, 5)).
    """
    m, k, n = (draw(st.integers(1, max_side)) for _ in range(3))
    a_vec, b_vec = draw(st.booleans()), draw(st.booleans())
    batch_a, batch_b = draw(broadcastable_shapes(min_dims=0, max_dims=max_batch_dims, max_side=3))
    shape_a = (k,) if a_vec else batch_a + (m, k)
    shape_b = (k,) if b_vec else batch_b + (k, n)
    return shape_a, shape_b


@st.composite
def cat_arrays(draw, dtype=np.float64, max_pieces: int = 3):
    """(arrays, dim): 1..max_pieces arrays equal in shape except along `dim` (maybe negative)."""
    shape = draw(shapes(min_dims=1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    pieces = []
    for _ in range(draw(st.integers(1, max_pieces))):
        s = list(shape)
        s[dim] = draw(st.integers(1, 3))
        pieces.append(draw(arrays_of(dtype, tuple(s))))
    return pieces, dim


@st.composite
def stack_arrays(draw, dtype=np.float64, max_pieces: int = 3):
    """(arrays, dim): 1..max_pieces arrays of one shape and a new-axis position `dim`."""
    shape = draw(shapes())
    dim = draw(st.integers(-len(shape) - 1, len(shape)))
    return [draw(arrays_of(dtype, shape)) for _ in range(draw(st.integers(1, max_pieces)))], dim
