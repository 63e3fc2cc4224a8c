"""Checkpoints: round trips, no pickle, atomic replacement, clear errors on damaged files."""
import os
import zipfile

import numpy as np
import pytest

import minicnn
import minicnn.io as mio
from minicnn.io import CheckpointError, load, save


def model_state():
    rng = np.random.default_rng(0)
    return {"conv1.weight": rng.standard_normal((6, 1, 5, 5)).astype(np.float32),
            "conv1.bias": np.zeros(6, np.float32),
            "bn.num_batches_tracked": np.array(7, np.int64)}


def test_state_dict_round_trip_with_tensors_and_metadata(tmp_path):
    state = model_state()
    state["fc.weight"] = minicnn.tensor(np.ones((3, 2)), requires_grad=True)
    path = tmp_path / "lenet.npz"
    save(state, path, metadata={"epoch": 3, "accuracy": 0.98, "model": "lenet5"})
    back, meta = load(path, with_metadata=True)
    assert meta == {"epoch": 3, "accuracy": 0.98, "model": "lenet5"}
    assert list(back) == list(state)
    for k, v in model_state().items():
        np.testing.assert_array_equal(back[k], v)
        assert back[k].dtype == v.dtype
    np.testing.assert_array_equal(back["fc.weight"], np.ones((3, 2), np.float32))
    assert isinstance(load(path), dict) and load(path).keys() == back.keys()


def test_nested_training_state_round_trips(tmp_path):
    state = {"model": model_state(),
             "optimizer": {"state": {0: {"momentum_buffer": np.arange(3.0)}, 1: {}},
                           "param_groups": [{"lr": 0.1, "momentum": 0.9, "nesterov": False,
                                             "betas": (0.9, 0.999), "params": [0, 1],
                                             "name": None}]},
             "epoch": 4, "history": [0.5, 0.25]}
    save(state, tmp_path / "ck")
    back = load(tmp_path / "ck")
    assert back["epoch"] == 4 and back["history"] == [0.5, 0.25]
    group = back["optimizer"]["param_groups"][0]
    assert group == {"lr": 0.1, "momentum": 0.9, "nesterov": False, "betas": (0.9, 0.999),
                     "params": [0, 1], "name": None}
    assert list(back["optimizer"]["state"]) == [0, 1]  # int keys stay ints
    np.testing.assert_array_equal(back["optimizer"]["state"][0]["momentum_buffer"], np.arange(3.0))
    np.testing.assert_array_equal(back["model"]["conv1.weight"], state["model"]["conv1.weight"])


def test_file_is_a_plain_npz_readable_without_pickle(tmp_path):
    path = tmp_path / "ck.npz"
    save({"model": model_state(), "file": np.ones(2)}, path)  # "file" is np.savez's own argument
    with np.load(path, allow_pickle=False) as npz:
        assert "model/conv1.weight" in npz.files and "file" in npz.files
        np.testing.assert_array_equal(npz["model/conv1.bias"], np.zeros(6))
    np.savez(tmp_path / "plain.npz", a=np.arange(3))  # any npz of arrays loads too
    plain, meta = load(tmp_path / "plain.npz", with_metadata=True)
    np.testing.assert_array_equal(plain["a"], np.arange(3))
    assert meta == {}


def test_unstorable_values_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="object array"):
        save({"w": np.array([{"a": 1}], dtype=object)}, tmp_path / "x")
    with pytest.raises(CheckpointError, match="set"):
        save({"w": {1, 2}}, tmp_path / "x")
    with pytest.raises(CheckpointError, match="JSON"):
        save({"w": np.ones(1)}, tmp_path / "x", metadata={"when": object()})
    assert not os.listdir(tmp_path)


def test_interrupted_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ck.npz"
    save(model_state(), path, metadata={"epoch": 1})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(np.lib.format, "write_array", crash)
    with pytest.raises(KeyboardInterrupt):
        save({"other": np.zeros(3)}, path, metadata={"epoch": 2})
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ck.npz"]  # no temporary file left behind
    monkeypatch.undo()
    assert load(path, with_metadata=True)[1] == {"epoch": 1}


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip", "npy", "empty"])
def test_damaged_files_raise_checkpoint_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "ck.npz"
    save(model_state(), path)
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[:len(raw) // 2])
    elif damage == "garbage":
        path.write_bytes(b"this is not a checkpoint" * 10)
    elif damage == "flip":  # one byte of array data changed: the zip CRC catches it
        offset = raw.index(b"\x93NUMPY") + 200
        path.write_bytes(raw[:offset] + bytes([raw[offset] ^ 0xFF]) + raw[offset + 1:])
    elif damage == "npy":
        np.save(path.with_suffix(".npy"), np.ones(3))
        os.replace(path.with_suffix(".npy"), path)
    else:
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="ck.npz"):
        load(path)
    assert issubclass(CheckpointError, ValueError)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nope.npz")


def test_header_is_json_in_a_uint8_entry(tmp_path):
    path = tmp_path / "ck.npz"
    save({"w": np.ones(1)}, path, metadata={"note": "héllo"})
    with zipfile.ZipFile(path) as z:
        assert mio.META_KEY + ".npy" in z.namelist()
    assert load(path, with_metadata=True)[1] == {"note": "héllo"}
