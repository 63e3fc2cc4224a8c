"""Datasets as Python objects, and the DataLoader that turns them into batches.

A dataset has `__len__` and `__getitem__(i) -> (image, label)`. A dataset
that also has `__getitems__(indices) -> (images, labels)` (whole batches
cut out of its arrays at once, transforms applied to the batch) is read
through that: no Python loop per sample. Other datasets are read sample by
sample and stacked.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd import Tensor
from . import transforms


class Dataset:
    """Base class: subclasses give `__len__` and `__getitem__(index)`, and may give
    `__getitems__(indices)` returning whole batches (a tuple of arrays)."""

    def __getitem__(self, index):
        raise TypeError(f"{type(self).__name__} must define __getitem__(index) to be a Dataset")

    def __len__(self):
        raise TypeError(f"{type(self).__name__} must define __len__() to be a Dataset")


def collate(samples):
    """A list of samples (tuples of arrays or numbers) -> a tuple of stacked arrays."""
    if isinstance(samples[0], (tuple, list)):
        return tuple(np.stack([np.asarray(s[k]) for s in samples]) for k in range(len(samples[0])))
    return np.stack([np.asarray(s) for s in samples])


def _array(a) -> np.ndarray:
    return a.data if isinstance(a, Tensor) else np.asarray(a)


class TensorDataset(Dataset):
    """Samples are rows of the given arrays (or Tensors), all with the same first size:
    TensorDataset(images, labels)[i] == (images[i], labels[i]). `transform`, if given,
    is applied to the first array's rows (a batch (N, C, H, W) on the batch path)."""

    def __init__(self, *arrays, transform=None):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_array(a) for a in arrays)
        sizes = [len(a) for a in self.arrays]
        if len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: all arrays need the same first size, got {sizes}")
        self.transform = transform

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        return tuple(a[0] for a in self.__getitems__([index]))

    def __getitems__(self, indices):
        idx = np.asarray(indices, np.intp)
        out = [a[idx] for a in self.arrays]
        if self.transform is not None:
            out[0] = self.transform(out[0])
        return tuple(out)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, np.intp)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices):
        chosen = self.indices[np.asarray(indices, np.intp)]
        if hasattr(self.dataset, "__getitems__"):
            return self.dataset.__getitems__(chosen)
        return collate([self.dataset[int(i)] for i in chosen])


def _generator(seed):
    if seed is None:
        return transforms.get_rng()
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def random_split(dataset, lengths, seed=None):
    """Split `dataset` into non-overlapping random Subsets of the given lengths.

    lengths: sizes summing to len(dataset), or fractions summing to 1 (sizes are
    floored, and the remainder handed out one by one from the first, as PyTorch).
    seed: an int or Generator for a reproducible split; None uses the shared
    generator (set by minicnn.manual_seed).
    """
    n = len(dataset)
    if math.isclose(sum(lengths), 1.0) and sum(lengths) <= 1:
        if any(f < 0 or f > 1 for f in lengths):
            raise ValueError(f"random_split: fractions must lie in [0, 1], got {lengths}")
        sizes = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
    else:
        sizes = [int(s) for s in lengths]
    if sum(sizes) != n or min(sizes) < 0:
        raise ValueError(f"random_split: lengths {list(lengths)} must sum to the dataset size {n} "
                         f"(or be fractions summing to 1)")
    order = _generator(seed).permutation(n)
    bounds = np.cumsum([0] + sizes)
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def _to_tensor(a) -> Tensor:
    a = np.asarray(a)
    if a.dtype.kind in "iu":
        a = a.astype(np.int64, copy=False)
    return Tensor(np.ascontiguousarray(a))


class DataLoader:
    """Iterate over a dataset in batches of minicnn Tensors.

    Each batch is what the dataset's samples hold, stacked: for image datasets
    `(images, labels)` with images float32 (N, C, H, W) and labels int64 (N,).
    shuffle=True draws a new order every epoch; with `seed` the sequence of
    orders is the same on every run, without it it comes from the shared
    generator (set by minicnn.manual_seed). drop_last drops a final short
    batch. Batches are built in this process (vectorised where the dataset has
    `__getitems__`); num_workers is accepted for PyTorch-shaped code and ignored.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 num_workers=0):
        if int(batch_size) < 1:
            raise ValueError(f"DataLoader: batch_size must be at least 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle, self.drop_last = shuffle, drop_last
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def batch(self, indices):
        """The batch of the samples at `indices`, as a tuple of arrays (not yet Tensors)."""
        getitems = getattr(self.dataset, "__getitems__", None)
        out = getitems(indices) if getitems is not None else \
            collate([self.dataset[int(i)] for i in indices])
        return collate(out) if isinstance(out, list) else out

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            order = (self._rng if self._rng is not None else transforms.get_rng()).permutation(n)
        else:
            order = np.arange(n)
        for b in range(len(self)):
            out = self.batch(order[b * self.batch_size:(b + 1) * self.batch_size])
            yield tuple(map(_to_tensor, out)) if isinstance(out, tuple) else _to_tensor(out)
