"""The teaching notebooks in notebooks/: committed without outputs, and each one runs top to bottom.

The slow test executes a copy of every notebook in a temporary folder (so nothing is written into
notebooks/) with the 'python3' kernel of the environment running pytest: jupyter_client starts it
with this very interpreter, and a last cell added to the copy checks that it did. The working tree
comes first on the kernel's PYTHONPATH, so the notebooks import the minicnn under test.
"""
import os
import shutil
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300
INTERPRETER_CHECK = "import sys\nprint(sys.executable)"


def _ids(path):
    return path.stem


def test_there_are_notebooks():
    assert NOTEBOOKS, f"no notebooks found in {ROOT / 'notebooks'}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_committed_without_outputs(path):
    notebook = nbformat.read(str(path), as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.get("kernelspec", {}).get("name") == "python3", (
        f"{path.name}: kernelspec must be 'python3' so it opens with the environment's kernel")
    dirty = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"
             and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cells {dirty} hold outputs or execution counts; "
                       "clear all outputs before committing (e.g. jupyter nbconvert "
                       "--clear-output --inplace)")


def _kernel_env(monkeypatch):
    """Environment the kernel inherits: no display, the working tree importable first."""
    monkeypatch.setenv("MPLBACKEND", "Agg")
    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


def _listing(folder):
    return sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    _kernel_env(monkeypatch)
    before = _listing(path.parent)
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    notebook = nbformat.read(str(copy), as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(INTERPRETER_CHECK))

    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the failing cell, with its traceback

    printed = "".join(out.get("text", "") for out in notebook.cells[-1].outputs).strip()
    assert os.path.realpath(printed) == os.path.realpath(sys.executable), (
        f"{path.name} ran under {printed!r}, not this environment's {sys.executable!r}: a "
        "'python3' kernelspec elsewhere (e.g. in the user's Jupyter folder) shadows this one")
    assert _listing(path.parent) == before, f"{path.name} wrote into {path.parent}"
