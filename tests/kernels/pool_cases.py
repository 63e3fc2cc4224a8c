"""Hypothesis strategy for pooling problems, shared by the kernel, op and PyTorch tests."""
from hypothesis import strategies as st


@st.composite
def pool_problems(draw, dilation=True, max_kernel=4):
    """dict(x_shape, kernel, stride, padding, dilation, ceil_mode), valid for PyTorch's rules:
    padding <= kernel // 2 and the padded input at least as large as the dilated window."""
    kernel = (draw(st.integers(1, max_kernel)), draw(st.integers(1, max_kernel)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    hw = tuple(max(1, d * (k - 1) + 1 - 2 * p) + draw(st.integers(0, 5))
               for k, p, d in zip(kernel, padding, dil))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *hw)
    return dict(x_shape=shape, kernel=kernel, stride=stride, padding=padding, dilation=dil,
                ceil_mode=draw(st.booleans()))
