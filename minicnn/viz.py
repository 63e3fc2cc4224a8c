"""Looking inside a CNN: every intermediate feature map, and plots of maps and filters.

    maps = feature_maps(model, x)                 # OrderedDict: layer name -> ndarray (N, C, H, W)
    fig = plot_feature_maps(maps["features.c1"])  # the first example's channels, one tile each
    fig = plot_filters(model.features.c1)         # the learned kernels of a Conv2d
    fig.savefig("c1.png")

The plots are matplotlib Figures built without pyplot, so they work on a headless machine (no
display, Agg) and never open windows; in a notebook, show one with `display(fig)` or return it.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from . import nn
from .autograd import Tensor
from .summary import trace


def feature_maps(model: nn.Module, x) -> "OrderedDict[str, np.ndarray]":
    """The output of every layer (module without sub-modules) for input x, in the order they ran.

    x: a batch (N, C, H, W) as a Tensor or ndarray; a single image (C, H, W) is given a batch axis.
    Runs in eval mode under no_grad; a layer called twice (e.g. a shared ReLU) appears again as
    'name#2'."""
    array = x.data if isinstance(x, Tensor) else np.asarray(x, dtype=np.float32)
    if array.ndim == 3:
        array = array[None]
    maps = OrderedDict()
    for name, _, out in trace(model, Tensor(array)):
        key, k = name, 1
        while key in maps:
            k += 1
            key = f"{name}#{k}"
        maps[key] = out.data
    return maps


def _grid(count: int, ncols: int):
    ncols = max(1, min(ncols, count))
    return -(-count // ncols), ncols


def _figure(nrows: int, ncols: int, tile: float = 1.3):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(ncols * tile, nrows * tile + 0.4))
    axes = np.array(fig.subplots(nrows, ncols, squeeze=False))
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def plot_feature_maps(maps, max_channels: int = 16, ncols: int = 8, title: str | None = None,
                      cmap: str = "viridis"):
    """A Figure with one tile per channel of a feature map (C, H, W), or of the first example of a
    batch (N, C, H, W); at most max_channels tiles. A (N, F) output is drawn as a single strip."""
    a = np.asarray(maps.data if isinstance(maps, Tensor) else maps, dtype=np.float64)
    if a.ndim == 4:
        a = a[0]
    if a.ndim == 2:          # (N, features): one row of values
        a = a[:1, None, :]
    if a.ndim != 3:
        raise ValueError(f"plot_feature_maps expects (C, H, W) or (N, C, H, W), got shape {a.shape}")
    a = a[:max_channels]
    nrows, ncols = _grid(len(a), ncols)
    fig, axes = _figure(nrows, ncols)
    for i, channel in enumerate(a):
        ax = axes.flat[i]
        ax.imshow(channel, cmap=cmap, interpolation="nearest")
        ax.set_title(str(i), fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def _unit_range(w):
    lo, hi = w.min(), w.max()
    return (w - lo) / (hi - lo) if hi > lo else np.zeros_like(w)


def plot_filters(conv, max_filters: int = 64, max_channels: int = 8, ncols: int = 8,
                 title: str | None = None, cmap: str = "gray"):
    """A Figure of a Conv2d's kernels (or a weight array (O, C, kh, kw)).

    3 input channels: one colour tile per filter (weights rescaled to [0, 1] per filter);
    1 channel: one grey tile per filter; otherwise one row per filter, one tile per input channel.
    Grey tiles share one scale (0 is mid-grey), so weak and strong filters can be compared."""
    w = conv.weight.data if isinstance(conv, nn.Module) else np.asarray(getattr(conv, "data", conv))
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"plot_filters expects a Conv2d or weights (O, C, kh, kw), got shape {w.shape}")
    w = w[:max_filters]
    o, c = w.shape[:2]
    scale = dict(vmin=-np.abs(w).max(), vmax=np.abs(w).max())     # one grey scale: 0 is mid-grey
    if c in (1, 3):
        nrows, ncols = _grid(o, ncols)
        fig, axes = _figure(nrows, ncols)
        for i in range(o):
            tile = _unit_range(w[i].transpose(1, 2, 0)) if c == 3 else w[i, 0]
            grey = {} if c == 3 else dict(cmap=cmap, **scale)
            axes.flat[i].imshow(tile, interpolation="nearest", **grey)
    else:
        shown = min(c, max_channels)
        fig, axes = _figure(o, shown, tile=0.8)
        for i in range(o):
            for j in range(shown):
                axes[i, j].imshow(w[i, j], cmap=cmap, interpolation="nearest", **scale)
    if title:
        fig.suptitle(title)
    return fig
