"""CIFAR-10 and CIFAR-100 from the official python-version archives.

The archive (`cifar-10-python.tar.gz`) is looked for like every data file
(see download.py: `root/cifar-10/` or `root`), checked against its md5 and
unpacked, safely, into the per-user cache folder; an already unpacked
`cifar-10-batches-py/` folder in those places is used as is. Each batch file
is checked against its md5 and read with a restricted unpickler that builds
only NumPy arrays, lists, strings and numbers, then checked for exactly the
expected keys and types: a file that asks for anything else is refused.
"""
from __future__ import annotations

import pickle

import numpy as np

from .datasets import ImageDataset
from .download import ChecksumError, RemoteFile, cache_dir, candidate_folders, extract_tar, locate, \
    verify

try:
    from numpy._core.multiarray import _reconstruct
except ImportError:  # NumPy < 2
    from numpy.core.multiarray import _reconstruct


class CIFARFormatError(ValueError):
    """A CIFAR batch file is not what the official archive holds."""


class _ArrayUnpickler(pickle.Unpickler):
    """Builds nothing but ndarrays (and plain containers): the only globals allowed
    are numpy's array reconstructor, ndarray and dtype."""
    allowed = {("numpy.core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
               ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}

    def find_class(self, module, name):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only NumPy arrays, "
                                         f"lists, strings and numbers may appear in a CIFAR file")
        return self.allowed[module, name]


def _text(v):
    return isinstance(v, (str, bytes))


def _texts(v):
    return isinstance(v, list) and all(map(_text, v))


def _ints(v):
    return isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) for i in v)


def _pixels(v):
    return isinstance(v, np.ndarray) and v.dtype == np.uint8 and v.ndim == 2 and v.shape[1] == 3072


SCHEMAS = {  # key -> check, for every kind of file in the archives
    "cifar10-batch": {"batch_label": _text, "labels": _ints, "data": _pixels, "filenames": _texts},
    "cifar10-meta": {"num_cases_per_batch": lambda v: isinstance(v, int), "label_names": _texts,
                     "num_vis": lambda v: isinstance(v, int)},
    "cifar100-batch": {"batch_label": _text, "fine_labels": _ints, "coarse_labels": _ints,
                       "data": _pixels, "filenames": _texts},
    "cifar100-meta": {"fine_label_names": _texts, "coarse_label_names": _texts},
}


def load_pickle(path, schema) -> dict:
    """The dict in a CIFAR pickle file (str keys, str texts), checked against SCHEMAS[schema]."""
    try:
        with open(path, "rb") as f:
            obj = _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as exc:
        raise CIFARFormatError(f"{path}: cannot read this CIFAR file: {exc}") from exc
    checks = SCHEMAS[schema]
    if not isinstance(obj, dict):
        raise CIFARFormatError(f"{path}: expected a dict, found {type(obj).__name__}")
    out = {}
    for key, value in obj.items():
        key = key.decode("latin1") if isinstance(key, bytes) else key
        if key not in checks or not checks[key](value):
            raise CIFARFormatError(f"{path}: unexpected entry {key!r} ({type(value).__name__}); "
                                   f"a {schema} file holds exactly {sorted(checks)}")
        out[key] = value
    if set(out) != set(checks):
        raise CIFARFormatError(f"{path}: missing {sorted(set(checks) - set(out))}")
    for key, value in out.items():
        if isinstance(value, list) and value and isinstance(value[0], bytes):
            out[key] = [v.decode("utf-8") for v in value]
    return out


class CIFAR10(ImageDataset):
    """CIFAR-10: 50,000 training / 10,000 test colour images, 3x32x32, 10 classes.

    Arguments as MNIST (root, train, download, transform). Items: (float32
    image in [0, 1], label).
    """
    archive = RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a",
                         ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",), size=170498071)
    folder = "cifar-10-batches-py"
    subdirs = ("cifar-10",)
    kind, label_key, names_key = "cifar10", "labels", "label_names"
    train_files = {"data_batch_1": "c99cafc152244af753f735de768cd75f",
                   "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
                   "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
                   "data_batch_4": "634d18415352ddfa80567beed471001a",
                   "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb"}
    test_files = {"test_batch": "40351d587109b95175f43aff81a1287e"}
    meta_file = ("batches.meta", "5ff9c542aee3614f3951f8cda6e48888")

    def __init__(self, root=None, train=True, download=False, transform=None):
        self.root, self.train = root, train
        files = dict(self.train_files if train else self.test_files)
        folder = self.unpacked(root, download, {**files, self.meta_file[0]: self.meta_file[1]})
        batches = [load_pickle(folder / name, self.kind + "-batch") for name in files]
        meta = load_pickle(folder / self.meta_file[0], self.kind + "-meta")
        data = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32)
        targets = np.concatenate([np.asarray(b[self.label_key], np.int64) for b in batches])
        if len(targets) != len(data) or targets.min() < 0 or targets.max() >= len(meta[self.names_key]):
            raise CIFARFormatError(f"{folder}: labels do not match the images or the class names")
        super().__init__(data, targets, transform, classes=meta[self.names_key])
        if "coarse_labels" in batches[0]:
            self.coarse_targets = np.concatenate([np.asarray(b["coarse_labels"], np.int64)
                                                  for b in batches])
            self.coarse_classes = meta["coarse_label_names"]

    @classmethod
    def unpacked(cls, root, download, files):
        """The folder holding the unpacked batch files (each checked against its md5),
        unpacking (and with download=True fetching) the archive when needed."""
        remotes = {n: RemoteFile(n, md5, cls.archive.urls) for n, md5 in files.items()}
        for base in candidate_folders(root, cls.subdirs):
            folder = base / cls.folder
            if all((folder / n).is_file() for n in files):
                try:
                    for n, r in remotes.items():
                        verify(folder / n, r)
                    return folder
                except ChecksumError:
                    continue
        archive, = locate(cls.__name__, [cls.archive], root, cls.subdirs, download)
        folder = extract_tar(archive, cache_dir() / cls.subdirs[0], cls.folder)
        for n, r in remotes.items():
            verify(folder / n, r)
        return folder


class CIFAR100(CIFAR10):
    """CIFAR-100: 50,000 / 10,000 colour images, 3x32x32, 100 classes (`targets`), also
    grouped into 20 superclasses (`coarse_targets`, `coarse_classes`)."""
    archive = RemoteFile("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85",
                         ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",), size=169001437)
    folder = "cifar-100-python"
    subdirs = ("cifar-100",)
    kind, label_key, names_key = "cifar100", "fine_labels", "fine_label_names"
    train_files = {"train": "16019d7e3df5f24257cddd939b257f8d"}
    test_files = {"test": "f0ef6b0ae62326f3e7ffdfab6717acfc"}
    meta_file = ("meta", "7973b15100ade9c7d40fb424638fde48")
