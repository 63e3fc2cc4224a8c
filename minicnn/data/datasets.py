"""Image classification datasets held as whole arrays, and the built-in digits.

`ImageDataset` keeps all images in one (N, C, H, W) array and cuts batches out
of it at once; MNIST, Fashion-MNIST and CIFAR build on it. `digits()` is
scikit-learn's bundled 8x8 handwritten digits: offline, small, the default.
"""
from __future__ import annotations

import functools

import numpy as np

from .loader import Dataset
from .transforms import Resize


class ImageDataset(Dataset):
    """Images with integer labels, indexed as (image, label).

    data: (N, C, H, W) or (N, H, W) array, uint8 0..255 or float; targets: (N,)
    ints. Items are float32 images (data * scale; scale defaults to 1/255 for
    uint8, else 1), so in [0, 1], passed through `transform`, and int labels.
    On the batch path (`__getitems__`, what DataLoader uses) the transform
    receives a whole batch (N, C, H, W); minicnn's transforms accept either.
    Attributes as torchvision: `data`, `targets` (int64 array), `classes`.
    """

    def __init__(self, data, targets, transform=None, classes=None, scale=None):
        data = np.asarray(data)
        if data.ndim == 3:
            data = data[:, None]
        targets = np.asarray(targets, np.int64)
        if data.ndim != 4 or targets.shape != (len(data),):
            raise ValueError(f"{type(self).__name__}: need images (N, C, H, W) and labels (N,), "
                             f"got {data.shape} and {targets.shape}")
        self.data, self.targets = data, targets
        self.transform = transform
        self.classes = list(classes) if classes is not None else \
            [str(c) for c in range(int(targets.max()) + 1 if len(targets) else 0)]
        self.scale = scale if scale is not None else (1 / 255 if data.dtype == np.uint8 else 1.0)

    def __len__(self):
        return len(self.data)

    def __getitems__(self, indices):
        """(images float32 (B, C, H, W), labels int64 (B,)) for the given indices."""
        idx = np.asarray(indices, np.intp)
        images = self.data[idx].astype(np.float32)
        if self.scale != 1:
            images *= np.float32(self.scale)
        if self.transform is not None:
            images = self.transform(images)
        return images, self.targets[idx]

    def __getitem__(self, index):
        images, labels = self.__getitems__([index])
        return images[0], int(labels[0])

    def __repr__(self):
        n, c, h, w = self.data.shape
        text = f"{type(self).__name__}: {n} images {c}x{h}x{w}, {len(self.classes)} classes"
        return text + (f"\n  transform: {self.transform!r}" if self.transform is not None else "")


@functools.lru_cache(maxsize=1)
def _load_digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.uint8)[:, None]  # values 0..16
    return images, bunch.target.astype(np.int64)


def split_mask(labels, test_fraction, seed) -> np.ndarray:
    """Boolean test mask: within each class, a seeded random `test_fraction` (rounded)."""
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), bool)
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        test[rng.permutation(members)[:int(round(test_fraction * len(members)))]] = True
    return test


def digits(train=True, size=8, test_fraction=0.2, seed=0, transform=None) -> ImageDataset:
    """scikit-learn's 1,797 handwritten digits (8x8, ink counts 0..16, classes 0..9), offline.

    The split is fixed and stratified: for each digit, a `test_fraction` of its
    images (rounded; chosen by a NumPy generator seeded with `seed`) form the
    test set, the rest the training set. The defaults give 1,438 training and
    359 test images, the same on every machine.

    size: the side of the returned images; 8 keeps the originals, other sizes
    resize bilinearly (e.g. 32 for LeNet-5). Images are float32 in [0, 1]
    (the counts divided by 16), shape (1, size, size).
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"digits: test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    images, labels = _load_digits()
    keep = split_mask(labels, test_fraction, seed) != train
    data, scale = images[keep], 1 / 16
    if size != 8:
        data, scale = Resize(size)(data.astype(np.float32) / 16), 1.0
    return ImageDataset(data, labels[keep], transform, classes=[str(d) for d in range(10)],
                        scale=scale)
