"""Backpropagation: walk the recorded graph from the loss back to the leaves.

`backward(root, grad)` orders the graph's nodes so that every node comes
after all nodes that use its outputs (reverse topological order), then calls
each node's `Function.backward` once, with the summed gradients of its
outputs. Both walks are iterative, so a 1000-layer network needs no deep
Python recursion. Leaves (tensors created by the user with
`requires_grad=True`) accumulate into `.grad`, as in PyTorch.

Gradients are arrays on the device of their tensor; the few array operations
the engine does itself (add, astype, full) come from `kernels_for(grad)`: NumPy
on the CPU, numba.cuda kernels on the GPU.
"""
from __future__ import annotations

import numpy as np

from ..kernels.backend import as_array, kernels_for
from .function import Node, no_grad, unbroadcast


def _topological_order(root: Node) -> list[Node]:
    """Nodes reachable from `root`, each listed after every node it feeds into."""
    # A node is marked visited when it is expanded, not when it is pushed: a node pushed
    # early (as a direct input of the root) but also reachable through a longer path must
    # still be finished after every node on that path.
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for t in node.inputs:
            child = t._node if t is not None else None
            if child is not None and id(child) not in visited:
                stack.append((child, False))
    order.reverse()  # root first, leaves' producers last
    return order


def _accumulate(store: dict, key, grad):
    store[key] = grad if key not in store else kernels_for(grad).add(store[key], grad)


def _add_to_leaf(tensor, grad):
    from .tensor import Tensor

    kernels = kernels_for(grad)
    if tensor.grad is None:             # a copy: one gradient array may be handed to several inputs
        tensor.grad = Tensor(kernels.astype(grad, tensor.dtype))
    else:
        kernels.add(tensor.grad.data, grad, out=tensor.grad.data)


def backward(root, grad, retain_graph: bool = False) -> None:
    """Propagate `grad` (d loss / d root) to every leaf that requires grad."""
    if root._node is None:  # a leaf: d root / d root = 1
        _add_to_leaf(root, grad)
        return
    pending: dict = {}  # (id(node), output index) -> summed gradient
    _accumulate(pending, (id(root._node), root._index), grad)
    with no_grad():
        for node in _topological_order(root._node):
            grads_out = [pending.pop((id(node), i), None) for i in range(len(node.outputs))]
            if all(g is None for g in grads_out):
                continue
            if node.ctx._saved is None:  # freed by an earlier backward without retain_graph
                raise RuntimeError(
                    f"Trying to backward through the graph a second time ({node.name()} was already "
                    "used and freed). Pass retain_graph=True to the first backward() to keep it.")
            if any(g is None for g in grads_out):      # an output that nothing used: a zero gradient
                kernels = kernels_for(as_array(next(g for g in grads_out if g is not None)))
                grads_out = [kernels.full(shape, 0, dtype) if g is None else g
                             for g, (shape, dtype) in zip(grads_out, node.outputs)]
            grads_in = node.function.backward(node.ctx, *grads_out)
            if not isinstance(grads_in, tuple):
                grads_in = (grads_in,)
            if len(grads_in) < len(node.inputs):
                raise RuntimeError(
                    f"{node.function.__name__}.backward returned {len(grads_in)} gradients, "
                    f"expected one per forward argument ({len(node.inputs)}); return None for "
                    "arguments without a gradient")
            for tensor, g in zip(node.inputs, grads_in):
                if tensor is None or g is None or not tensor.requires_grad:
                    continue
                try:
                    g = unbroadcast(as_array(g), tensor.shape)
                except (ValueError, IndexError):
                    raise RuntimeError(
                        f"{node.function.__name__}.backward returned a gradient of shape {np.shape(g)} "
                        f"for an input of shape {tensor.shape}; a gradient must have the input's shape "
                        "(or a shape that broadcasts to it)") from None
                if g.dtype != tensor.dtype:
                    g = kernels_for(g).astype(g, tensor.dtype)
                if tensor._node is None:
                    _add_to_leaf(tensor, g)
                else:
                    if tensor._retains_grad:
                        _add_to_leaf(tensor, g)
                    _accumulate(pending, (id(tensor._node), tensor._index), g)
            if not retain_graph:
                node.ctx._saved = None
