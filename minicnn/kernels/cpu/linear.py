"""The fully connected layer on the CPU: y = x @ W^T + b, with NumPy's matrix product (BLAS).

x is (..., in_features) (any leading axes), W (out_features, in_features) (PyTorch's layout), b
(out_features,). The backward pass is two more products: gx = gy @ W, gW = gy^T @ x (summed over
every leading position), and gb = the sum of gy over those positions.
"""


def linear_forward(x, weight, bias):
    """y (..., out_features) = x @ weight^T + bias."""
    y = x @ weight.T
    if bias is not None:
        y += bias
    return y


def linear_backward(x, weight, gy, needs=(True, True, True)):
    """(gx, gw, gb): the gradients of linear_forward w.r.t. x, weight and bias given gy; ``needs``
    says which to compute (None in their place otherwise)."""
    gx = gy @ weight if needs[0] else None
    g2 = gy.reshape(-1, gy.shape[-1])
    gw = g2.T @ x.reshape(-1, x.shape[-1]) if needs[1] else None
    gb = g2.sum(axis=0) if needs[2] else None
    return gx, gw, gb
