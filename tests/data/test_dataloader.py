"""DataLoader, TensorDataset, Subset, random_split and the ImageDataset batch path."""
import numpy as np
import pytest

import minicnn
from minicnn.autograd import Tensor
from minicnn.data import (DataLoader, Dataset, ImageDataset, Subset, TensorDataset, random_split,
                          transforms as T)


def image_set(n=10, transform=None):
    data = np.arange(n * 4, dtype=np.uint8).reshape(n, 1, 2, 2)
    return ImageDataset(data, np.arange(n) % 3, transform)


class PerSample(Dataset):
    """A dataset with no batch path: the loader must read it sample by sample."""

    def __init__(self, n):
        self.n, self.calls = n, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        return np.full((1, 2, 2), i, np.float32), i


def gather(loader):
    return [(x.data, y.data) for x, y in loader]


def test_batches_are_tensors_with_the_right_dtypes_and_sizes():
    loader = DataLoader(image_set(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(y.data) for _, y in batches] == [4, 4, 2]
    x, y = batches[0]
    assert isinstance(x, Tensor) and isinstance(y, Tensor)
    assert x.data.dtype == np.float32 and x.shape == (4, 1, 2, 2) and y.data.dtype == np.int64
    np.testing.assert_allclose(x.data[1, 0], np.array([[4, 5], [6, 7]]) / 255, rtol=1e-6)
    assert not x.requires_grad


def test_drop_last_and_len():
    assert len(DataLoader(image_set(10), batch_size=4, drop_last=True)) == 2
    assert [len(y.data) for _, y in DataLoader(image_set(10), 4, drop_last=True)] == [4, 4]
    assert len(DataLoader(image_set(8), batch_size=4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(image_set(), batch_size=0)


def test_shuffle_is_a_permutation_repeatable_by_seed_and_new_each_epoch():
    ds = image_set(50)
    loader = DataLoader(ds, batch_size=7, shuffle=True, seed=3)
    epoch1 = np.concatenate([y for _, y in gather(loader)])
    epoch2 = np.concatenate([y for _, y in gather(loader)])
    firsts1 = np.concatenate([x[:, 0, 0, 0] for x, _ in gather(DataLoader(ds, 7, shuffle=True, seed=3))])
    order1 = np.rint(firsts1 * 255 / 4).astype(int)
    assert sorted(order1) == list(range(50)) and list(order1) != list(range(50))
    again = DataLoader(ds, batch_size=7, shuffle=True, seed=3)
    np.testing.assert_array_equal(np.concatenate([y for _, y in gather(again)]), epoch1)
    np.testing.assert_array_equal(np.concatenate([y for _, y in gather(again)]), epoch2)
    x1 = np.concatenate([x for x, _ in gather(loader)])
    x2 = np.concatenate([x for x, _ in gather(loader)])
    assert not np.array_equal(x1, x2)


def test_unseeded_shuffle_follows_manual_seed():
    ds = image_set(30)
    minicnn.manual_seed(1)
    a = np.concatenate([x for x, _ in gather(DataLoader(ds, 5, shuffle=True))])
    minicnn.manual_seed(1)
    b = np.concatenate([x for x, _ in gather(DataLoader(ds, 5, shuffle=True))])
    np.testing.assert_array_equal(a, b)


def test_batch_path_is_used_and_transform_sees_whole_batches():
    seen = []

    def spy(x):
        seen.append(x.shape)
        return x

    class NoSingles(ImageDataset):
        def __getitem__(self, index):
            raise AssertionError("the batch path must not read samples one by one")

    base = image_set(10)
    list(DataLoader(NoSingles(base.data, base.targets, spy), batch_size=4))
    assert seen == [(4, 1, 2, 2), (4, 1, 2, 2), (2, 1, 2, 2)]


def test_per_sample_datasets_are_stacked():
    ds = PerSample(5)
    (x, y), (x2, y2) = list(DataLoader(ds, batch_size=3))
    assert ds.calls == 5 and x.shape == (3, 1, 2, 2) and y.data.dtype == np.int64
    np.testing.assert_array_equal(y2.data, [3, 4])


def test_image_dataset_items_and_augmentation():
    ds = image_set(6, transform=T.RandomHorizontalFlip(p=1.0))
    image, label = ds[1]
    assert image.shape == (1, 2, 2) and image.dtype == np.float32 and label == 1
    np.testing.assert_allclose(image[0], np.array([[5, 4], [7, 6]]) / 255, rtol=1e-6)
    assert "ImageDataset: 6 images 1x2x2" in repr(ds)
    with pytest.raises(ValueError, match="labels"):
        ImageDataset(np.zeros((3, 1, 2, 2)), [0, 1])


def test_tensor_dataset_takes_arrays_and_tensors():
    xs = np.random.default_rng(0).random((9, 3)).astype(np.float32)
    ds = TensorDataset(minicnn.tensor(xs), np.arange(9))
    x, y = ds[2]
    np.testing.assert_array_equal(x, xs[2])
    assert y == 2 and len(ds) == 9
    bx, by = next(iter(DataLoader(ds, batch_size=4)))
    np.testing.assert_array_equal(bx.data, xs[:4])
    assert by.data.dtype == np.int64
    with pytest.raises(ValueError, match="same first size"):
        TensorDataset(xs, np.arange(8))


def test_subset_and_random_split():
    ds = image_set(20)
    sub = Subset(ds, [5, 1, 7])
    assert len(sub) == 3 and sub[0][1] == ds[5][1]
    x, y = next(iter(DataLoader(sub, batch_size=3)))
    np.testing.assert_array_equal(y.data, ds.targets[[5, 1, 7]])
    a, b = random_split(ds, [15, 5], seed=0)
    assert len(a) == 15 and len(b) == 5
    assert sorted(np.concatenate([a.indices, b.indices])) == list(range(20))
    a2, _ = random_split(ds, [15, 5], seed=0)
    np.testing.assert_array_equal(a.indices, a2.indices)
    parts = random_split(ds, [0.5, 0.3, 0.2], seed=1)
    assert [len(p) for p in parts] == [10, 6, 4]
    assert [len(p) for p in random_split(image_set(10), [1 / 3] * 3, seed=0)] == [4, 3, 3]
    with pytest.raises(ValueError, match="sum"):
        random_split(ds, [10, 5])
    per_sample = Subset(PerSample(6), [4, 2])
    x, y = next(iter(DataLoader(per_sample, batch_size=2)))
    np.testing.assert_array_equal(y.data, [4, 2])
