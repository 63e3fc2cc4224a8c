"""MNIST and Fashion-MNIST, read from the official IDX files (.gz).

Folder layouts accepted under the data folder `root` (see download.py):
`root/mnist/<files>` (Fashion: `root/fashion-mnist/<files>`), torchvision's
`root/MNIST/raw/<files>`, or the files straight in `root`. Each file is checked
against its published md5, so a folder of the wrong files is refused.
"""
from __future__ import annotations

import gzip

import numpy as np

from .datasets import ImageDataset
from .download import RemoteFile, locate

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def read_idx(path, magic) -> np.ndarray:
    """The uint8 array in an IDX file (gzip-compressed if the name ends in .gz).

    Header: 4-byte big-endian magic (2051 images, 2049 labels; its low byte is
    the number of dimensions), one 4-byte size per dimension, then the bytes.
    """
    path = str(path)
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        raw = f.read()
    if len(raw) < 8 or int.from_bytes(raw[:4], "big") != magic:
        found = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
        raise ValueError(f"{path}: not an IDX file with magic number {magic} (found {found})")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} ({header + int(np.prod(shape))} bytes) "
                         f"but the file holds {len(raw)} bytes; it is truncated or damaged")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def idx_files(base_urls, table):
    """{'train': (images, labels), 'test': (...)} RemoteFiles from rows
    (name, size, md5, sha256, md5 of the decompressed file)."""
    files = {r[0]: RemoteFile(r[0], r[2], tuple(u + r[0] for u in base_urls), r[3], r[4], r[1])
             for r in table}
    return {"train": (files["train-images-idx3-ubyte.gz"], files["train-labels-idx1-ubyte.gz"]),
            "test": (files["t10k-images-idx3-ubyte.gz"], files["t10k-labels-idx1-ubyte.gz"])}


class MNIST(ImageDataset):
    """MNIST handwritten digits: 60,000 training / 10,000 test images, 1x28x28.

    root: the data folder (else $MINICNN_DATA, else the per-user cache
    folder); download: fetch missing files (both splits) from the official
    site or a mirror. Items: (float32 image in [0, 1], label). Mean 0.1307, std 0.3081.
    """
    subdirs = ("mnist", "MNIST/raw")
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]
    resources = idx_files(
        ("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"), [
            ("train-images-idx3-ubyte.gz", 9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873",
             "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
             "6bbc9ace898e44ae57da46a324031adb"),
            ("train-labels-idx1-ubyte.gz", 28881, "d53e105ee54ea40749a09fcbcd1e9432",
             "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
             "a25bea736e30d166cdddb491f175f624"),
            ("t10k-images-idx3-ubyte.gz", 1648877, "9fb629c4189551a2d022fa330f9573f3",
             "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
             "2646ac647ad5339dbf082846283269ea"),
            ("t10k-labels-idx1-ubyte.gz", 4542, "ec29112dd5afa0611ce80d1b7f02629c",
             "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
             "27ae3e4e09519cfbb04c329615203637"),
        ])

    def __init__(self, root=None, train=True, download=False, transform=None):
        self.root, self.train = root, train
        name = type(self).__name__
        if download:  # both splits, as torchvision does: the test set is small
            locate(name, self.resources["train"] + self.resources["test"], root, self.subdirs, True)
        paths = locate(name, self.resources["train" if train else "test"], root, self.subdirs, False)
        self.files = paths
        images, labels = read_idx(paths[0], IMAGES_MAGIC), read_idx(paths[1], LABELS_MAGIC)
        if len(images) != len(labels):
            raise ValueError(f"{paths[0]} holds {len(images)} images but {paths[1]} "
                             f"{len(labels)} labels")
        super().__init__(images[:, None], labels, transform, classes=self.classes)


class FashionMNIST(MNIST):
    """Fashion-MNIST (Zalando): 60,000 / 10,000 clothing images, 1x28x28, 10 classes.
    Same arguments as MNIST. Mean 0.2860, std 0.3530."""
    subdirs = ("fashion-mnist", "FashionMNIST/raw")
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
               "Bag", "Ankle boot"]
    resources = idx_files(
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
         "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"), [
            ("train-images-idx3-ubyte.gz", 26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
             "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
             "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
            ("train-labels-idx1-ubyte.gz", 29515, "25c81989df183df01b3e8a0aad5dffbe",
             "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
             "9018921c3c673c538a1fc5bad174d6f9"),
            ("t10k-images-idx3-ubyte.gz", 4422102, "bef4ecab320f06d8554ea6380940ec79",
             "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
             "8181f5470baa50b63fa0f6fddb340f0a"),
            ("t10k-labels-idx1-ubyte.gz", 5148, "bb300cfdad3c16e7a12a480ee83cd310",
             "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
             "15d484375f8d13e6eb1aabb0c3f46965"),
        ])
