"""The command line: the README's main command trains, and user mistakes give one clear line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from minicnn.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args, cwd=None):
    """Run `python -m minicnn ...` as a user would; returns the finished process."""
    env = dict(os.environ, PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-m", "minicnn", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=600)


@pytest.mark.slow
def test_default_train_reaches_95_percent_on_digits(tmp_path):
    metrics, weights = tmp_path / "metrics.json", tmp_path / "lenet5.npz"
    done = _run("train", "--metrics", str(metrics), "--save", str(weights), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "test accuracy" in done.stdout
    report = json.loads(metrics.read_text())
    assert report["test_accuracy"] > 0.95
    assert len(report["epochs"]["loss"]) == 10
    assert report["epochs"]["loss"][-1] < report["epochs"]["loss"][0]
    assert all(s > 0 for s in report["epochs"]["seconds"])
    # the saved weights evaluate to the same accuracy
    done = _run("evaluate", "--model", "lenet5", "--weights", str(weights), "--dataset", "digits")
    assert done.returncode == 0, done.stderr
    assert f"{report['test_accuracy']:.4f}" in done.stdout


def test_train_is_deterministic_with_a_seed(tmp_path):
    reports = []
    for i in range(2):
        path = tmp_path / f"m{i}.json"
        assert main(["train", "--epochs", "1", "--limit-train", "200", "--seed", "3",
                     "--metrics", str(path), "--no-progress"]) == 0
        reports.append(json.loads(path.read_text()))
    assert reports[0]["epochs"]["loss"] == reports[1]["epochs"]["loss"]
    assert reports[0]["test_accuracy"] == reports[1]["test_accuracy"]


@pytest.mark.parametrize("args, fragment", [
    (["train", "--model", "lenet99"], "lenet99"),
    (["train", "--dataset", "imagenet"], "imagenet"),
    (["summary", "nosuchnet"], "nosuchnet"),
    (["summary", "lenet5", "--input", "1,x,32"], "--input"),
])
def test_user_mistakes_give_one_line_and_exit_2(args, fragment, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and fragment in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_missing_data_folder_is_one_line(tmp_path, capsys):
    code = main(["evaluate", "--model", "lenet5", "--weights", str(tmp_path / "w.npz"),
                 "--dataset", "mnist", "--data-dir", str(tmp_path / "nothing")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1


def test_weights_of_another_architecture_are_refused(tmp_path, capsys):
    import minicnn as mc

    path = tmp_path / "vgg.npz"
    mc.save(mc.models.lenet5(modern=True).state_dict(), path)
    mc.save({"conv1.weight": np.zeros((3, 3), np.float32)}, path)
    code = main(["evaluate", "--model", "lenet5", "--weights", str(path), "--dataset", "digits"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "lenet5" in err and len(err.splitlines()) == 1


def test_summary_prints_the_lenet5_table(capsys):
    assert main(["summary", "lenet5"]) == 0
    assert "61,706" in capsys.readouterr().out


def test_models_lists_names(capsys):
    assert main(["models"]) == 0
    names = capsys.readouterr().out.split()
    assert "lenet5" in names and "resnet20" in names
