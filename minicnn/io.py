"""Checkpoints: `save(state, path, metadata)` / `load(path)` as a NumPy .npz file, never pickle.

A state is a dict whose values are arrays or Tensors (stored as their
arrays), plain numbers, strings, booleans, None, and lists or dicts of these,
nested as deep as needed, so `{"model": model.state_dict(), "optimizer":
opt.state_dict(), "epoch": 3}` round-trips. Each array is an .npz entry named
by its path of keys joined with "/" (a model's "conv1.weight" stays
"conv1.weight"; np.load shows them as they are); the structure and
everything that is not an array go into one JSON entry, "__minicnn__".

`save` writes a temporary file in the same folder and renames it over `path`
(os.replace, atomic), so an interrupted save leaves the previous checkpoint
intact. `load` reads with allow_pickle=False and raises CheckpointError
naming the file when it is truncated, damaged or not a checkpoint.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile

import numpy as np

META_KEY = "__minicnn__"
FORMAT = "minicnn-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file cannot be read (truncated, damaged, not a checkpoint) or written."""


def _as_array(value):
    """An ndarray for arrays, NumPy scalars and Tensors (by their `.data`), else None."""
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    data = getattr(value, "data", None)
    if isinstance(data, np.ndarray):
        return data
    if hasattr(data, "copy_to_host"):  # a Tensor held on the GPU
        return data.copy_to_host()
    return None


def _encode(value, path, arrays):
    """JSON-able description of `value`; arrays go into `arrays` under their path."""
    array = _as_array(value)
    if array is not None:
        if array.dtype.hasobject:
            raise CheckpointError(f"save: {path or 'value'} is an object array, which needs pickle; "
                                  f"store numbers or strings")
        name = path or "value"
        while name in arrays or name == META_KEY:
            name += "_"
        arrays[name] = array
        return {"array": name}
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, (str, int)) or isinstance(key, bool):
                raise CheckpointError(f"save: keys must be str or int, got {key!r} in {path or 'state'}")
        return {"dict": [[k, _encode(v, f"{path}/{k}" if path else str(k), arrays)]
                         for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode(v, f"{path}/{i}", arrays) for i, v in enumerate(value)]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"value": value}
    raise CheckpointError(f"save: cannot store {path or 'value'} of type {type(value).__name__}; "
                          f"use arrays, Tensors, numbers, strings, lists and dicts")


def _decode(node, arrays):
    if "array" in node:
        return arrays[node["array"]]
    if "dict" in node:
        return {k: _decode(v, arrays) for k, v in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays) for v in node["tuple"])
    return node["value"]


def save(state, path, metadata=None) -> None:
    """Write `state` (see the module docstring) and optional JSON-able `metadata`
    (e.g. {"epoch": 3, "accuracy": 0.98}) to `path`, replacing it atomically.
    The file is written exactly at `path` (no extension is added)."""
    arrays = {}
    tree = _encode(state, "", arrays)
    try:
        header = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree,
                             "metadata": metadata if metadata is not None else {}})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"save: metadata must be JSON-serialisable: {exc}") from exc
    arrays[META_KEY] = np.frombuffer(header.encode("utf-8"), np.uint8)
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
                for name, array in arrays.items():  # what np.savez writes, without pickle
                    with archive.open(name + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load(path, with_metadata=False):
    """The state saved at `path` (arrays come back as ndarrays), or
    `(state, metadata)` with with_metadata=True. A plain .npz of arrays loads
    as a dict of its arrays with empty metadata."""
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive")
        with npz:
            arrays = {name: npz[name] for name in npz.files}
        if META_KEY in arrays:
            header = json.loads(arrays.pop(META_KEY).tobytes().decode("utf-8"))
            if header.get("format") != FORMAT:
                raise ValueError(f"unknown format {header.get('format')!r}")
            state, metadata = _decode(header["tree"], arrays), header.get("metadata", {})
        else:
            state, metadata = arrays, {}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"{path}: not a readable minicnn checkpoint (truncated, damaged or "
                              f"another kind of file): {exc}") from exc
    return (state, metadata) if with_metadata else state
