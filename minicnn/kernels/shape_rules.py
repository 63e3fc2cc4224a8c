"""Output-size rules of convolution and pooling, as pure functions on ints.

The one rule behind every sliding window (PyTorch's, and the lecture's when d = 1):

    n_out = floor((n_in + 2p - d(k - 1) - 1) / s) + 1        ( = floor((n_in + 2p - k) / s) + 1 )

Pooling may round up instead (``ceil_mode``), but never lets the last window start inside the
right padding. Adaptive pooling picks window i = [floor(i n_in / n_out), ceil((i + 1) n_in / n_out)).
These functions import nothing from minicnn, so every floor (kernels, ops, layers, summaries) can use
them.
"""


def pair(value, name="argument", argument=None):
    """An int or an (h, w) pair of ints -> (h, w); raises a clear error for anything else, which
    names ``name`` (and ``argument``, as "name: argument")."""
    if type(value) is tuple and len(value) == 2 and type(value[0]) is int and type(value[1]) is int:
        return value                              # a pair already (the kernels' every call)
    if argument is not None:
        name = f"{name}: {argument}"
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w), got {value!r}")
        h, w = value
    else:
        h = w = value
    try:
        if int(h) != h or int(w) != w:
            raise TypeError
        return int(h), int(w)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an int or a pair of ints (h, w), got {value!r}") from None


def _one_size(n_in, k, s, p, d, ceil_mode, name):
    if k < 1 or s < 1 or d < 1 or p < 0:
        raise ValueError(f"{name}: kernel_size, stride and dilation must be >= 1 and padding >= 0, "
                         f"got kernel_size={k}, stride={s}, padding={p}, dilation={d}")
    span = n_in + 2 * p - d * (k - 1) - 1         # room left for the window to slide in
    if span < 0:
        rule = ("n_out = floor((n_in + 2p - k) / s) + 1" if d == 1
                else "n_out = floor((n_in + 2p - d(k-1) - 1) / s) + 1")
        raise ValueError(
            f"{name}: the kernel (size {k}, dilation {d}, so it spans {d * (k - 1) + 1}) is larger than "
            f"the padded input ({n_in} + 2*{p} = {n_in + 2 * p}); {rule} gives "
            f"floor(({n_in} + {2 * p} - {d * (k - 1) + 1}) / {s}) + 1 = {span // s + 1} < 1")
    n_out = (span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (n_out - 1) * s >= n_in + p:  # the last window would start in the right padding
        n_out -= 1
    return n_out


def conv_output_size(n_in, kernel_size, stride=1, padding=0, dilation=1, *, name="conv"):
    """Output length of a convolution: floor((n_in + 2p - d(k-1) - 1) / s) + 1.

    Every argument may be an int or an (h, w) pair; with any pair the answer is an (h, w) pair.
    Raises ValueError (naming ``name``, the rule and the numbers) when the result would be < 1.
    >>> conv_output_size(32, 5)          # LeNet-5's first convolution
    28
    """
    return _sizes((n_in, kernel_size, stride, padding, dilation), False, name)


def pool_output_size(n_in, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, *,
                     name="pool"):
    """Output length of a pooling window: the convolution rule, rounded up when ``ceil_mode``
    (as PyTorch: the last window must start inside the input or the left padding).
    ``stride=None`` means stride = kernel_size. Ints or (h, w) pairs, as conv_output_size."""
    stride = kernel_size if stride is None else stride
    return _sizes((n_in, kernel_size, stride, padding, dilation), ceil_mode, name)


_ARGUMENTS = ("n_in", "kernel_size", "stride", "padding", "dilation")


def _sizes(args, ceil_mode, name):
    """_one_size on ints, or on each axis when any argument is an (h, w) pair."""
    (n, k, s, p, d) = (pair(a, name, argument) for a, argument in zip(args, _ARGUMENTS))
    size_h = _one_size(n[0], k[0], s[0], p[0], d[0], ceil_mode, name)
    if not any(isinstance(a, (tuple, list)) for a in args):
        return size_h
    return size_h, _one_size(n[1], k[1], s[1], p[1], d[1], ceil_mode, name)


def adaptive_window(i, n_in, n_out):
    """Window [start, end) of output position i in adaptive pooling (PyTorch's rule)."""
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


def same_padding(kernel_size, dilation=1):
    """(before, after) padding that keeps the size at stride 1: d(k-1) in all, the odd one after."""
    total = dilation * (kernel_size - 1)
    return total // 2, total - total // 2
