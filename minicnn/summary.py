"""`summary(model, input_shape)`: a layer-by-layer table of output shapes, parameters and MACs.

    >>> print(summary(lenet5(), (1, 32, 32)))          # input_shape without the batch dimension

One forward pass of a single example runs under no_grad in eval mode (so BatchNorm's running
statistics and dropout are untouched), with a forward hook on every layer recording its output.

Cost model, per example: a convolution producing Ho x Wo x C_out values, each a dot product over a
kh x kw x C_in/groups window, costs (Ho*Wo*C_out) * (kh*kw*C_in/groups) multiply-accumulates (MACs);
a fully connected layer costs in_features * out_features. Biases, activations, pooling and
normalization are cheap next to these and count 0. This is the lecture's Inception arithmetic: a
5x5 conv 192 -> 32 on 28x28 costs (28*28*32) * (5*5*192) = 120,422,400 MACs.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from . import nn
from .autograd import Tensor, no_grad


@dataclass
class LayerRow:
    """One called layer: dotted name, class name, output shape (batch of 1), own parameters, MACs."""

    name: str
    type: str
    output_shape: tuple
    params: int
    trainable_params: int
    macs: int
    output_bytes: int


def _first_tensor(output):
    if isinstance(output, Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def trace(model: nn.Module, x, leaves_only: bool = True):
    """Run model(x) once (eval mode, no_grad) and return [(name, module, output Tensor)] in call order.

    leaves_only: record modules without children, plus any module holding parameters of its own.
    Every module's training flag is restored afterwards, and the hooks are removed."""
    names = {id(m): name for name, m in model.named_modules()}
    records = []

    def hook(module, inputs, output):
        out = _first_tensor(output)
        if out is not None:
            records.append((names[id(module)], module, out))

    modes = [(m, m.training) for m in model.modules()]
    handles = [m.register_forward_hook(hook) for m in model.modules()
               if not leaves_only or not m._modules or m._parameters]
    try:
        model.eval()
        with no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    return records


def layer_macs(module: nn.Module, output: Tensor) -> int:
    """Multiply-accumulates of one example through a Conv2d or Linear layer (0 for other layers)."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        per_output = int(np.prod(module.weight.shape[1:]))   # C_in/groups*kh*kw, or in_features
        outputs = int(np.prod(output.shape[1:]))            # one example's output values
        return outputs * per_output
    return 0


class Summary:
    """The result of `summary`: `.rows` (LayerRow list) and totals; str() is the printed table.

    total_params / trainable_params count every parameter of the model once; total_macs and
    activation_bytes add up every layer that ran (one example)."""

    def __init__(self, model: nn.Module, input_shape: tuple, rows: list, total_macs: int,
                 activation_bytes: int, params_not_run: int = 0):
        self.model_name = type(model).__name__
        self.input_shape = tuple(input_shape)
        self.rows = rows
        params = list(model.parameters())
        self.total_params = sum(p.numel() for p in params)
        self.trainable_params = sum(p.numel() for p in params if p.requires_grad)
        self.total_macs = total_macs
        self.activation_bytes = activation_bytes
        self.param_bytes = sum(p.data.nbytes for p in params)
        self.params_not_run = params_not_run

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    def __str__(self) -> str:
        headers = ("Layer (type)", "Output shape", "Param #", "MACs")
        body = [(f"{r.name} ({r.type})", str(list(r.output_shape)), f"{r.params:,}", f"{r.macs:,}")
                for r in self.rows]
        widths = [max([len(h)] + [len(row[i]) for row in body]) for i, h in enumerate(headers)]

        def line(cells):
            return (f"{cells[0]:<{widths[0]}}  {cells[1]:<{widths[1]}}  "
                    f"{cells[2]:>{widths[2]}}  {cells[3]:>{widths[3]}}")

        rule = "=" * len(line(headers))
        mib = 1024 * 1024
        lines = [f"{self.model_name} summary, input {list((1,) + self.input_shape)}", rule, line(headers), rule]
        lines += [line(row) for row in body]
        lines += [rule,
                  f"Total params: {self.total_params:,}",
                  f"Trainable params: {self.trainable_params:,}",
                  f"Non-trainable params: {self.non_trainable_params:,}",
                  f"Total MACs: {self.total_macs:,}",
                  f"Activation memory: {self.activation_bytes:,} bytes ({self.activation_bytes / mib:.2f} MiB)"
                  " per example, forward",
                  f"Parameter memory: {self.param_bytes:,} bytes ({self.param_bytes / mib:.2f} MiB)"]
        if self.params_not_run:
            lines.append(f"Params of layers not run in eval (e.g. auxiliary classifiers): "
                         f"{self.params_not_run:,}")
        return "\n".join(lines + [rule])

    __repr__ = __str__


def _depth(name: str) -> int:
    return 0 if not name else name.count(".") + 1


def summary(model: nn.Module, input_shape, depth: int | None = None, dtype=None) -> Summary:
    """Run one example of shape input_shape (no batch dimension, e.g. (1, 32, 32)) through model and
    tabulate its layers: name, type, output shape, parameters, MACs, with totals.

    depth=None lists every layer that holds no others; depth=1 lists the model's direct children
    (e.g. GoogLeNet's inception3a as one row), with the parameters and MACs of everything inside.
    dtype: of the example input; by default that of the model's first parameter (else float32)."""
    input_shape = tuple(int(n) for n in input_shape)
    if dtype is None:
        dtype = next((p.dtype for p in model.parameters()), np.float32)
    x = Tensor(np.random.default_rng(0).standard_normal((1,) + input_shape).astype(dtype))
    try:
        records = trace(model, x, leaves_only=False)
    except Exception as error:
        error.add_note(f"summary: the model was given one example of shape {(1,) + input_shape}; "
                       "input_shape must leave out the batch dimension, e.g. (1, 32, 32)")
        raise
    leaves = [r for r in records if not r[1]._modules]
    if depth is None:
        shown = [r for r in records if not r[1]._modules or r[1]._parameters]
    else:
        shown = [r for r in records if _depth(r[0]) == depth or (not r[1]._modules and _depth(r[0]) < depth)]
    rows = []
    for name, module, out in shown:
        params = list(module.parameters(recurse=depth is not None))
        inside = [(n, m, o) for n, m, o in records
                  if m is module or (depth is not None and (not name or n.startswith(name + ".")))]
        rows.append(LayerRow(name or type(module).__name__, type(module).__name__, tuple(out.shape),
                             sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad),
                             sum(layer_macs(m, o) for _, m, o in inside), int(out.data.nbytes)))
    run = {id(p) for _, module, _ in records for p in module.parameters(recurse=False)}
    not_run = sum(p.numel() for p in model.parameters() if id(p) not in run)
    return Summary(model, input_shape, rows, sum(layer_macs(m, o) for _, m, o in records),
                   sum(int(o.data.nbytes) for _, _, o in leaves), not_run)
