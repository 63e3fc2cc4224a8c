"""The built-in digits, and MNIST / Fashion-MNIST on the real files (MINICNN_DATA)."""
import os
from pathlib import Path

import numpy as np
import pytest

from minicnn.data import MNIST, DataLoader, FashionMNIST, digits, transforms as T

MNIST_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def real_folder(sub):
    """MINICNN_DATA/<sub> when it holds the four official files, else skip."""
    root = os.environ.get("MINICNN_DATA")
    if not root or not all((Path(root) / sub / f).is_file() for f in MNIST_FILES):
        pytest.skip(f"set MINICNN_DATA to a folder holding {sub}/<the official files>")
    return Path(root)


# ------------------------------------------------------------------ digits
def test_digits_split_is_fixed_stratified_and_complete():
    from sklearn.datasets import load_digits

    train, test = digits(), digits(train=False)
    assert (len(train), len(test)) == (1438, 359)
    labels = load_digits().target
    want = [int(round(0.2 * n)) for n in np.bincount(labels)]
    assert list(np.bincount(test.targets, minlength=10)) == want
    np.testing.assert_array_equal(np.bincount(train.targets) + np.bincount(test.targets),
                                  np.bincount(labels))
    again = digits(train=False)
    np.testing.assert_array_equal(again.data, test.data)
    other = digits(train=False, seed=1)
    assert not np.array_equal(other.data, test.data)
    assert len(digits(test_fraction=0.5)) in (898, 899, 900)
    with pytest.raises(ValueError, match="test_fraction"):
        digits(test_fraction=1.0)


def test_digits_images_are_scaled_sklearn_images():
    from sklearn.datasets import load_digits

    ds = digits(train=False)
    images, labels = ds.__getitems__(np.arange(len(ds)))
    assert images.shape == (359, 1, 8, 8) and images.dtype == np.float32 and labels.dtype == np.int64
    assert images.min() == 0 and images.max() == 1
    bunch = load_digits()
    first = np.flatnonzero(np.all(bunch.images == images[0, 0] * 16, axis=(1, 2)))
    assert len(first) and bunch.target[first[0]] == labels[0]
    assert ds.classes == [str(d) for d in range(10)]


def test_digits_resized_for_lenet():
    small, big = digits(train=False), digits(train=False, size=32)
    x, _ = big.__getitems__(np.arange(len(big)))
    assert x.shape == (359, 1, 32, 32) and x.min() >= 0 and x.max() <= 1
    s, _ = small.__getitems__(np.arange(len(small)))
    np.testing.assert_allclose(x.mean(axis=(2, 3)), s.mean(axis=(2, 3)), atol=0.02)
    np.testing.assert_array_equal(big.targets, small.targets)


def test_digits_through_loader_with_augmentation():
    ds = digits(size=16, transform=T.Compose([T.RandomRotation(10), T.Normalize((0.3,), (0.4,))]))
    x, y = next(iter(DataLoader(ds, batch_size=64, shuffle=True, seed=0)))
    assert x.shape == (64, 1, 16, 16) and x.data.dtype == np.float32 and y.data.dtype == np.int64


# ------------------------------------------------------------ real files
@pytest.mark.slow
def test_mnist_real_files():
    root = real_folder("mnist")
    before = sorted(os.listdir(root / "mnist"))
    train, test = MNIST(train=True), MNIST(train=False)
    assert train.data.shape == (60000, 1, 28, 28) and len(test) == 10000
    assert list(np.bincount(train.targets)) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265,
                                                5851, 5949]
    assert list(np.bincount(test.targets)) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    x, _ = train.__getitems__(np.arange(60000))
    assert abs(x.mean() - 0.1307) < 1e-4 and abs(x.std() - 0.3081) < 1e-4
    assert sorted(os.listdir(root / "mnist")) == before  # nothing written beside the files
    labels = np.concatenate([y.data for _, y in DataLoader(test, batch_size=500, shuffle=True)])
    assert list(np.bincount(labels)) == list(np.bincount(test.targets))


@pytest.mark.slow
def test_fashion_mnist_real_files():
    real_folder("fashion-mnist")
    test = FashionMNIST(train=False)
    assert list(np.bincount(test.targets)) == [1000] * 10
    x, _ = test.__getitems__(np.arange(len(test)))
    assert abs(x.mean() - 0.2868) < 1e-4 and abs(x.std() - 0.3524) < 1e-4
    assert test.classes[9] == "Ankle boot"


@pytest.mark.slow
@pytest.mark.parametrize("layout", [".", "MNIST/raw"])
def test_real_files_in_other_layouts(tmp_path, layout):
    root = real_folder("mnist")
    folder = tmp_path / layout
    folder.mkdir(parents=True, exist_ok=True)
    for f in MNIST_FILES:
        (folder / f).symlink_to(root / "mnist" / f)
    assert len(MNIST(root=tmp_path, train=False)) == 10000
