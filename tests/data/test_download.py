"""Finding, checking, downloading and unpacking data files.

Downloads run against a local HTTP server on 127.0.0.1 serving small files
made here (good, corrupt, truncated), never the internet.
"""
import gzip
import hashlib
import io
import os
import pickle
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from minicnn.data import CIFAR10, CIFAR100, MNIST, FashionMNIST, cache_dir, data_root
from minicnn.data.cifar import CIFARFormatError, load_pickle
from minicnn.data.download import (ChecksumError, DatasetNotFoundError, DownloadError, RemoteFile,
                                   extract_tar, fetch)
from minicnn.data.mnist import idx_files, read_idx


# ------------------------------------------------------------------ server
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        body, declared = route
        self.send_response(200)
        self.send_header("Content-Length", str(declared))
        self.end_headers()
        self.wfile.write(body)  # fewer bytes than declared: the connection closes early

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.routes = {}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def serve(server, path, body, declared=None):
    server.routes[path] = (body, len(body) if declared is None else declared)
    return server.base + path


@pytest.fixture(autouse=True)
def private_folders(tmp_path, monkeypatch):
    """A fresh cache folder and no MINICNN_DATA for every test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("MINICNN_DATA", raising=False)


def md5(data):
    return hashlib.md5(data).hexdigest()


def gz(data, mtime=0):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=mtime) as f:
        f.write(data)
    return buf.getvalue()


def listing(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ------------------------------------------------------------ plain fetch
def test_fetch_checks_and_renames(server, tmp_path):
    body = os.urandom(3000)
    url = serve(server, "/good.bin", body)
    path = fetch(RemoteFile("good.bin", md5(body), (url,), sha256=hashlib.sha256(body).hexdigest()),
                 tmp_path / "d")
    assert path == tmp_path / "d" / "good.bin" and path.read_bytes() == body
    assert os.listdir(tmp_path / "d") == ["good.bin"]


def test_corrupt_download_is_deleted_and_reported(server, tmp_path):
    good, bad = os.urandom(2000), os.urandom(2000)
    url = serve(server, "/corrupt.bin", bad)
    with pytest.raises(DownloadError) as err:
        fetch(RemoteFile("corrupt.bin", md5(good), (url,)), tmp_path)
    assert md5(good) in str(err.value) and md5(bad) in str(err.value) and url in str(err.value)
    assert os.listdir(tmp_path) == []


def test_truncated_download_is_deleted_and_reported(server, tmp_path):
    body = os.urandom(5000)
    url = serve(server, "/short.bin", body[:1200], declared=len(body))
    with pytest.raises(DownloadError) as err:
        fetch(RemoteFile("short.bin", md5(body), (url,)), tmp_path)
    message = str(err.value)
    assert "truncated: received 1200 of 5000 bytes" in message
    assert md5(body) in message and md5(body[:1200]) in message
    assert os.listdir(tmp_path) == []


def test_mirrors_are_tried_in_turn(server, tmp_path):
    body = os.urandom(1000)
    urls = (server.base + "/missing.bin", "http://127.0.0.1:9/refused.bin",
            serve(server, "/mirror/bad.bin", body[::-1]), serve(server, "/mirror/ok.bin", body))
    path = fetch(RemoteFile("ok.bin", md5(body), urls), tmp_path)
    assert path.read_bytes() == body and os.listdir(tmp_path) == ["ok.bin"]


# ----------------------------------------------------- data folder rules
def test_data_folder_resolution(monkeypatch, tmp_path):
    assert cache_dir() == tmp_path / "cache" / "minicnn"
    assert data_root() == cache_dir()
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "minicnn"


# ------------------------------------------------------------ fake MNIST
def fake_mnist(seed=0):
    """Tiny IDX files {name: gz bytes} and their RemoteFile rows."""
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte.gz": (rng.integers(0, 256, (6, 28, 28)), 2051),
              "train-labels-idx1-ubyte.gz": (rng.integers(0, 10, 6), 2049),
              "t10k-images-idx3-ubyte.gz": (rng.integers(0, 256, (3, 28, 28)), 2051),
              "t10k-labels-idx1-ubyte.gz": (rng.integers(0, 10, 3), 2049)}
    raw = {n: m.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in a.shape)
           + a.astype(np.uint8).tobytes() for n, (a, m) in arrays.items()}
    files = {n: gz(r) for n, r in raw.items()}
    rows = [(n, len(b), md5(b), hashlib.sha256(b).hexdigest(), md5(raw[n])) for n, b in files.items()]
    return files, raw, {n: a for n, (a, _) in arrays.items()}, rows


@pytest.fixture
def mnist_files(server, monkeypatch):
    files, raw, arrays, rows = fake_mnist()
    for n, b in files.items():
        serve(server, "/official/" + n, b"<html>moved</html>")  # the official site is broken
        serve(server, "/mirror/" + n, b)
    monkeypatch.setattr(MNIST, "resources",
                        idx_files((server.base + "/official/", server.base + "/mirror/"), rows))
    return files, raw, arrays


def test_download_then_read_offline(mnist_files, tmp_path, monkeypatch):
    files, raw, arrays = mnist_files
    ds = MNIST(root=tmp_path / "data", download=True)
    assert sorted(os.listdir(tmp_path / "data" / "mnist")) == sorted(files)
    assert len(ds) == 6 and ds.data.shape == (6, 1, 28, 28)
    np.testing.assert_array_equal(ds.data[:, 0], arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(ds.targets, arrays["train-labels-idx1-ubyte.gz"])
    image, label = ds[0]
    assert image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
    # files present: no network needed, even with download=True
    monkeypatch.setattr(MNIST, "resources", idx_files(("http://127.0.0.1:9/",), [
        (r.name, r.size, r.md5, r.sha256, r.raw_md5) for r in MNIST.resources["train"]
        + MNIST.resources["test"]]))
    assert len(MNIST(root=tmp_path / "data", train=False, download=True)) == 3
    assert len(MNIST(root=tmp_path / "data")) == 6


def test_missing_files_explain_where_and_how(mnist_files, tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        MNIST(root=tmp_path / "empty")
    message = str(err.value)
    assert str(tmp_path / "empty" / "mnist") in message
    assert "train-images-idx3-ubyte.gz" in message and "train-labels-idx1-ubyte.gz" in message
    assert "download=True" in message and "MINICNN_DATA" in message
    assert isinstance(err.value, FileNotFoundError)


@pytest.mark.parametrize("layout", ["mnist", ".", "MNIST/raw"])
def test_folder_layouts(mnist_files, tmp_path, monkeypatch, layout):
    files, _, arrays = mnist_files
    folder = tmp_path / "data" / layout
    folder.mkdir(parents=True, exist_ok=True)
    for n, b in files.items():
        (folder / n).write_bytes(b)
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "data"))
    np.testing.assert_array_equal(MNIST(train=False).targets, arrays["t10k-labels-idx1-ubyte.gz"])


def test_recompressed_and_decompressed_copies_are_accepted(mnist_files, tmp_path):
    files, raw, arrays = mnist_files
    folder = tmp_path / "mnist"
    folder.mkdir()
    for n in files:
        if "images" in n:
            (folder / n).write_bytes(gz(raw[n], mtime=12345))  # other gzip header, same content
        else:
            (folder / n[:-3]).write_bytes(raw[n])  # already decompressed
    ds = MNIST(root=tmp_path)
    np.testing.assert_array_equal(ds.targets, arrays["train-labels-idx1-ubyte.gz"])


def test_wrong_file_is_refused_with_both_checksums(mnist_files, tmp_path):
    files, _, _ = mnist_files
    folder = tmp_path / "mnist"
    folder.mkdir()
    for n, b in files.items():
        (folder / n).write_bytes(b)
    bad = folder / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(gz(b"something else"))
    with pytest.raises(ChecksumError) as err:
        MNIST(root=tmp_path)
    assert str(bad) in str(err.value) and md5(files[bad.name]) in str(err.value)
    assert md5(bad.read_bytes()) in str(err.value)
    MNIST(root=tmp_path, download=True)  # download=True replaces it with a good copy
    assert bad.read_bytes() == files[bad.name]


def test_unwritable_data_folder_downloads_into_the_cache(mnist_files, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("a data folder that cannot hold folders")
    ds = MNIST(root=blocker, download=True)
    assert len(ds) == 6
    assert sorted(os.listdir(cache_dir() / "mnist")) == sorted(mnist_files[0])
    assert len(MNIST(root=blocker)) == 6  # found there next time


def test_fashion_does_not_take_mnist_files(mnist_files, tmp_path, monkeypatch):
    files, _, _ = mnist_files
    for n, b in files.items():
        (tmp_path / n).write_bytes(b)  # MNIST files straight in root
    with pytest.raises(ChecksumError, match="expected md5"):
        FashionMNIST(root=tmp_path)


def test_idx_header_is_checked(tmp_path):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes((2049).to_bytes(4, "big") + (10).to_bytes(4, "big") + bytes(4))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path, 2049)
    with pytest.raises(ValueError, match="magic number 2051"):
        read_idx(path, 2051)


# ------------------------------------------------------------------ CIFAR
def cifar_pickle(obj, numpy_core=False):
    data = pickle.dumps(obj, protocol=3)
    if numpy_core:  # the module name older NumPy (and the official files) use
        data = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    return data


def fake_cifar10(seed=0):
    """{member name: bytes} of a tiny cifar-10-batches-py folder, and its arrays."""
    rng = np.random.default_rng(seed)
    members, arrays = {}, {}
    for i, name in enumerate(["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                              "data_batch_5", "test_batch"]):
        pixels = rng.integers(0, 256, (2, 3072)).astype(np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, 2)]
        arrays[name] = (pixels, labels)
        members[name] = cifar_pickle({b"batch_label": b"batch %d" % i, b"labels": labels,
                                      b"data": pixels, b"filenames": [b"a.png", b"b.png"]},
                                     numpy_core=i % 2 == 0)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse",
             b"ship", b"truck"]
    members["batches.meta"] = cifar_pickle({b"num_cases_per_batch": 2, b"label_names": names,
                                            b"num_vis": 3072})
    return members, arrays


def tar_gz(members, folder):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, body in members.items():
            info = tarfile.TarInfo(f"{folder}/{name}" if folder else name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buf.getvalue()


@pytest.fixture
def cifar_archive(server, monkeypatch):
    members, arrays = fake_cifar10()
    archive = tar_gz(members, "cifar-10-batches-py")
    url = serve(server, "/kriz/cifar-10-python.tar.gz", archive)
    monkeypatch.setattr(CIFAR10, "archive", RemoteFile("cifar-10-python.tar.gz", md5(archive), (url,)))
    monkeypatch.setattr(CIFAR10, "train_files", {f"data_batch_{i}": md5(members[f"data_batch_{i}"])
                                                 for i in range(1, 6)})
    monkeypatch.setattr(CIFAR10, "test_files", {"test_batch": md5(members["test_batch"])})
    monkeypatch.setattr(CIFAR10, "meta_file", ("batches.meta", md5(members["batches.meta"])))
    return archive, arrays


def test_cifar10_download_unpacks_into_the_cache(cifar_archive, tmp_path):
    archive, arrays = cifar_archive
    root = tmp_path / "data"
    train = CIFAR10(root=root, download=True)
    assert listing(root) == ["cifar-10", "cifar-10/cifar-10-python.tar.gz"]  # nothing unpacked here
    assert (cache_dir() / "cifar-10" / "cifar-10-batches-py" / "data_batch_1").is_file()
    assert len(train) == 10 and train.data.shape == (10, 3, 32, 32) and train.classes[0] == "airplane"
    want = np.concatenate([arrays[f"data_batch_{i}"][0] for i in range(1, 6)])
    np.testing.assert_array_equal(train.data.reshape(10, 3072), want)  # R, G, B planes in order
    np.testing.assert_array_equal(train.targets, sum((arrays[f"data_batch_{i}"][1]
                                                      for i in range(1, 6)), []))
    test = CIFAR10(root=root, train=False)
    np.testing.assert_array_equal(test.targets, arrays["test_batch"][1])
    image, label = test[1]
    assert image.shape == (3, 32, 32) and label == arrays["test_batch"][1][1]


def test_cifar10_archive_in_a_read_only_folder(cifar_archive, tmp_path, monkeypatch):
    archive, _ = cifar_archive
    root = tmp_path / "ro"
    root.mkdir()
    (root / "cifar-10-python.tar.gz").write_bytes(archive)
    before = listing(root)
    monkeypatch.setenv("MINICNN_DATA", str(root))
    assert len(CIFAR10(train=False)) == 2
    assert listing(root) == before


def test_cifar10_missing_archive_error(cifar_archive, tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar-10-python.tar.gz"):
        CIFAR10(root=tmp_path)


def test_cifar100_from_an_unpacked_folder(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (4, 3072)).astype(np.uint8)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    batch = cifar_pickle({b"filenames": [b"x"] * 4, b"batch_label": b"testing", b"fine_labels":
                          [3, 99, 0, 7], b"coarse_labels": [1, 19, 0, 2], b"data": pixels})
    meta = cifar_pickle({b"fine_label_names": [b"c%d" % i for i in range(100)],
                         b"coarse_label_names": [b"s%d" % i for i in range(20)]})
    (folder / "test").write_bytes(batch)
    (folder / "meta").write_bytes(meta)
    monkeypatch.setattr(CIFAR100, "test_files", {"test": md5(batch)})
    monkeypatch.setattr(CIFAR100, "meta_file", ("meta", md5(meta)))
    ds = CIFAR100(root=tmp_path, train=False)
    np.testing.assert_array_equal(ds.targets, [3, 99, 0, 7])
    np.testing.assert_array_equal(ds.coarse_targets, [1, 19, 0, 2])
    assert ds.classes[99] == "c99" and ds.coarse_classes[19] == "s19"


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload, message", [
    ({b"batch_label": b"x", b"labels": [1], b"data": Evil(), b"filenames": [b"a"]}, "refusing to load"),
    ({b"batch_label": b"x", b"labels": [1], b"data": np.zeros((1, 3072), np.uint8),
      b"filenames": [b"a"], b"extra": 1}, "unexpected entry 'extra'"),
    ({b"batch_label": b"x", b"labels": [1], b"data": np.zeros((1, 3072), np.float64),
      b"filenames": [b"a"]}, "unexpected entry 'data'"),
    ({b"batch_label": b"x", b"data": np.zeros((1, 3072), np.uint8), b"filenames": [b"a"]},
     "missing \\['labels'\\]"),
    ([1, 2, 3], "expected a dict"),
])
def test_cifar_unpickler_refuses_anything_unexpected(tmp_path, payload, message):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(payload, protocol=3))
    with pytest.raises(CIFARFormatError, match=message):
        load_pickle(path, "cifar10-batch")


def test_unpacking_refuses_paths_outside_the_folder(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_gz({"cifar-10-batches-py/ok": b"1", "../../escaped": b"2"}, ""))
    with pytest.raises(ValueError, match="refusing to unpack"):
        extract_tar(archive, tmp_path / "out", "cifar-10-batches-py")
    assert not (tmp_path / "escaped").exists() and not list(tmp_path.glob("**/escaped"))
    assert not (tmp_path / "out" / "cifar-10-batches-py").exists()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        link = tarfile.TarInfo("cifar-10-batches-py/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    archive.write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="refusing to unpack"):
        extract_tar(archive, tmp_path / "out", "cifar-10-batches-py")
