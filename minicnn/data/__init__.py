"""Datasets, batches and augmentation.

    from minicnn.data import DataLoader, MNIST, digits, transforms as T
    train = MNIST(train=True, transform=T.Compose([T.RandomCrop(28, padding=2)]))
    for images, labels in DataLoader(train, batch_size=64, shuffle=True, seed=0):
        ...  # images: float32 Tensor (64, 1, 28, 28); labels: int64 Tensor (64,)

Data files are read from the `root` argument, else $MINICNN_DATA, else the
per-user cache folder (`cache_dir()`); see download.py.
"""
from . import transforms
from .cifar import CIFAR10, CIFAR100
from .datasets import ImageDataset, digits
from .download import ChecksumError, DatasetNotFoundError, DownloadError, cache_dir, data_root
from .loader import DataLoader, Dataset, Subset, TensorDataset, random_split
from .mnist import MNIST, FashionMNIST
from .transforms import seed

__all__ = [
    "transforms", "seed", "Dataset", "ImageDataset", "TensorDataset", "Subset", "random_split",
    "DataLoader", "digits", "MNIST", "FashionMNIST", "CIFAR10", "CIFAR100", "data_root", "cache_dir",
    "ChecksumError", "DatasetNotFoundError", "DownloadError",
]
