"""Where data files live, how they are checked, downloaded and unpacked.

The data folder is, in this order: the `root` argument, the `MINICNN_DATA`
environment variable, the per-user cache folder (`cache_dir()`, by default
`~/.cache/minicnn`, or `$XDG_CACHE_HOME/minicnn`). A data folder may be
read-only: files are only ever written by an explicit download, and archives
are unpacked into the cache folder, never beside the archive.

Every file is checked against its published checksum. A download goes to a
hidden temporary file in the target folder and is renamed to its real name
only once the checksum matches, so a half-finished or corrupt download never
looks like a good file.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
USER_AGENT = "minicnn-data/0.1 (+python urllib)"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not in any folder searched, and download=False."""


class ChecksumError(ValueError):
    """A file's checksum is not the published one."""


class DownloadError(OSError):
    """No source gave a good copy of a file."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name, checksums and where to fetch it.

    `urls` are tried in order (the official location first, then mirrors).
    `raw_md5` is the md5 of the decompressed content of a `.gz` file: it
    accepts a re-compressed copy (same content, different gzip header) and
    an already decompressed file of the same name without `.gz`.
    """
    name: str
    md5: str
    urls: tuple[str, ...]
    sha256: str | None = None
    raw_md5: str | None = None
    size: int | None = None


# ----------------------------------------------------------------- folders
def cache_dir() -> Path:
    """The per-user cache folder: $XDG_CACHE_HOME/minicnn, else ~/.cache/minicnn
    (on Windows %LOCALAPPDATA%/minicnn)."""
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "minicnn"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base).expanduser() / "minicnn"


def data_root(root=None) -> Path:
    """The data folder: `root`, else $MINICNN_DATA, else `cache_dir()`."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("MINICNN_DATA"):
        return Path(os.environ["MINICNN_DATA"]).expanduser()
    return cache_dir()


def candidate_folders(root, subdirs) -> list[Path]:
    """Folders searched for a dataset's files, in order: `root/<sub>` for each
    sub-folder name, `root` itself, then the cache folder's `<sub>`."""
    base = data_root(root)
    folders = [base / s for s in subdirs] + [base, cache_dir() / subdirs[0]]
    unique = []
    for f in folders:
        if f not in unique:
            unique.append(f)
    return unique


def writable_folder(folders) -> Path:
    """The first of `folders` that exists or can be made, and accepts a new file."""
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".minicnn-probe-")
            os.close(fd)
            os.remove(probe)
            return folder
        except OSError:
            continue
    raise PermissionError("no writable folder among: " + ", ".join(map(str, folders)))


# --------------------------------------------------------------- checksums
def file_digests(path, gunzip=False) -> dict:
    """{'md5': ..., 'sha256': ...} of a file's bytes (of its decompressed bytes with gunzip=True)."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    opener = gzip.open if gunzip else open
    with opener(path, "rb") as f:
        while chunk := f.read(CHUNK):
            md5.update(chunk)
            sha.update(chunk)
    return {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}


def checksum_problem(path, remote: RemoteFile) -> str | None:
    """None if `path` holds the published content of `remote`, else a sentence saying
    what was expected and what was found."""
    path = Path(path)
    if path.name == remote.name:
        got = file_digests(path)
        if got["md5"] == remote.md5 and (remote.sha256 is None or got["sha256"] == remote.sha256):
            return None
        if remote.raw_md5 is None or not remote.name.endswith(".gz"):
            return f"expected md5 {remote.md5}, got {got['md5']}"
        try:  # a re-compressed copy of the same content is as good
            if file_digests(path, gunzip=True)["md5"] == remote.raw_md5:
                return None
        except (OSError, EOFError):
            pass
        return f"expected md5 {remote.md5}, got {got['md5']}"
    raw = file_digests(path)["md5"]  # the decompressed file itself
    return None if raw == remote.raw_md5 else f"expected md5 {remote.raw_md5} (decompressed), got {raw}"


_verified: set = set()  # (path, size, mtime) already checked in this process


def verify(path, remote: RemoteFile) -> Path:
    """Raise ChecksumError naming `path` unless it holds the published content."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key in _verified:
        return path
    problem = checksum_problem(path, remote)
    if problem:
        raise ChecksumError(
            f"{path}: this is not the published {remote.name} ({problem}). The file is damaged or "
            f"a different file with the same name; delete it and download it again "
            f"(download=True), or get it from {remote.urls[0]}")
    _verified.add(key)
    return path


# ---------------------------------------------------------------- download
def _stream(url, out, name, progress) -> tuple[int, int | None]:
    """Copy `url` into the open file `out`; return (bytes received, Content-Length or None)."""
    from tqdm.auto import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=60) as response:
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        received = 0
        with tqdm(total=length, unit="B", unit_scale=True, unit_divisor=1024, desc=name,
                  disable=not progress, leave=False) as bar:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    return received, length


def fetch(remote: RemoteFile, folder, progress=True) -> Path:
    """Download `remote` into `folder` and return its path.

    Each url is tried in turn. The bytes go to a hidden temporary file that is
    renamed to `remote.name` only after its checksum matches; a corrupt or
    truncated download is deleted and reported with the expected and actual
    checksum, and the next url is tried.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / remote.name
    failures = []
    for url in remote.urls:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{remote.name}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                received, length = _stream(url, out, remote.name, progress)
                out.flush()
                os.fsync(out.fileno())
            got = file_digests(tmp)
            if got["md5"] != remote.md5 or (remote.sha256 and got["sha256"] != remote.sha256):
                truncated = (f"truncated: received {received} of {length} bytes; "
                             if length is not None and received < length else "")
                raise ChecksumError(f"{truncated}expected md5 {remote.md5}, got {got['md5']} "
                                    f"({received} bytes); the download was deleted")
            os.replace(tmp, dest)
            return dest
        except (OSError, ValueError, http.client.HTTPException) as exc:  # HTTP, timeouts, checksums
            failures.append(f"{url}: {exc}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DownloadError(f"could not download {remote.name} into {folder}:\n  " + "\n  ".join(failures))


# ---------------------------------------------------------- finding files
def find_file(folder, remote: RemoteFile) -> Path | None:
    """`folder/name`, or its decompressed twin `folder/name-without-.gz`, if present."""
    folder = Path(folder)
    if (folder / remote.name).is_file():
        return folder / remote.name
    if remote.raw_md5 and remote.name.endswith(".gz") and (folder / remote.name[:-3]).is_file():
        return folder / remote.name[:-3]
    return None


def locate(dataset, remotes, root, subdirs, download, progress=True) -> list[Path]:
    """Paths of all `remotes`, each checked against its checksum.

    Searches `candidate_folders(root, subdirs)` for the first folder holding
    every file with the published checksums. When none does and `download` is
    true, the files missing (or failing their checksum) are fetched into
    `root/<subdirs[0]>`, or the cache folder when that is not writable.
    Otherwise the checksum failure is raised, or DatasetNotFoundError saying
    where the files were looked for and how to get them.
    """
    folders = candidate_folders(root, subdirs)
    problems = []
    for folder in folders:
        found = [find_file(folder, r) for r in remotes]
        if all(found):
            try:
                return [verify(p, r) for p, r in zip(found, remotes)]
            except ChecksumError as exc:  # e.g. another dataset's files of the same names
                problems.append(exc)
    if not download:
        if problems:
            raise problems[0]
        names = ", ".join(r.name for r in remotes)
        source = remotes[0].urls[0].rsplit("/", 1)[0] + "/"
        raise DatasetNotFoundError(
            f"{dataset}: data files not found.\n"
            f"  looked in: {', '.join(str(f) for f in folders)}\n"
            f"  expected: {names}\n"
            f"  get them: pass download=True (they go to {folders[0]}), or copy the official files "
            f"from {source} into {folders[0]}, or set MINICNN_DATA (or root=) to a folder holding "
            f"{subdirs[0]}/<files>")
    target = writable_folder([folders[0], folders[-1]])
    paths = []
    for r in remotes:
        existing = find_file(target, r)
        good = existing is not None and checksum_problem(existing, r) is None
        paths.append(existing if good else fetch(r, target, progress))
    return paths


# --------------------------------------------------------------- archives
def _check_member(member: tarfile.TarInfo, dest: str) -> None:
    """For Pythons without tarfile's 'data' filter: plain files and folders inside dest only."""
    target = os.path.realpath(os.path.join(dest, member.name))
    if not (member.isfile() or member.isdir()) or os.path.isabs(member.name) \
            or os.path.commonpath([target, os.path.realpath(dest)]) != os.path.realpath(dest):
        raise tarfile.TarError(f"member {member.name!r} is a link, a device or lies outside the folder")


def extract_tar(archive, dest_parent, folder_name) -> Path:
    """Unpack `archive` (which must hold `folder_name/...`) into `dest_parent/folder_name`.

    Uses tarfile's 'data' filter (no absolute paths, no `..`, no links out of
    the folder, no devices). It unpacks into a temporary folder first and
    renames, so an interrupted extraction leaves nothing that looks complete.
    """
    dest_parent = Path(dest_parent)
    final = dest_parent / folder_name
    dest_parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=dest_parent, prefix=f".{folder_name}.")
    try:
        with tarfile.open(archive, "r:*") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:  # Python < 3.10.12 / 3.11.4
                members = tar.getmembers()
                for m in members:
                    _check_member(m, tmp)
                tar.extractall(tmp, members=members)
        if not (Path(tmp) / folder_name).is_dir():
            raise tarfile.TarError(f"it holds no folder {folder_name!r}")
        if final.exists():  # unpacked meanwhile by another process
            return final
        os.replace(Path(tmp) / folder_name, final)
        return final
    except tarfile.TarError as exc:
        raise ValueError(f"{archive}: refusing to unpack this archive: {exc}") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
