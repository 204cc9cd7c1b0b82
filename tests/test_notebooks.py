"""The notebooks are committed without outputs (they may hold article text and go stale), and they run.

`make test` executes every notebook top to bottom once: nbmake runs notebooks 02-04 (``--nbmake`` in
pytest's addopts, with ``notebooks`` in testpaths), and this file runs 01_quickstart itself (addopts
keeps it from nbmake) so that it can check what the quickstart prints, started from the repo root.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_the_four_notebooks_exist():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_topic_classifier.ipynb", "03_summaries.ipynb", "04_web_ingestion.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_with_outputs_stripped(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert code
    assert all(cell["outputs"] == [] and cell["execution_count"] is None for cell in code)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_finds_the_repo_root_first(path):
    """Opened from the repo root or from notebooks/, the first code cell moves to the repo root."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    first = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    assert "pyproject.toml" in "".join(first["source"]) and "os.chdir(root)" in "".join(first["source"])


def _first_code_cell(path: Path) -> str:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    return "".join(next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")["source"])


def test_quickstart_notebook_runs_from_the_repo_root(tmp_path):
    """The quickstart's one run in `make test`: a kernel started in the repo root (as when Jupyter is
    started there), every cell, and what it prints; nbmake would start it in notebooks/ instead, which
    the test below covers for the first cell, the only one that depends on where the kernel starts."""
    import nbformat
    from nbclient import NotebookClient

    root = NOTEBOOKS[0].parent.parent
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(root)}}).execute()
    printed = "".join(out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", []))
    assert f"working in {root}" in printed and "written 10" in printed


def test_quickstart_first_cell_moves_to_the_repo_root_from_notebooks(tmp_path):
    """Where nbmake (and Jupyter started in notebooks/) starts the kernel; outside the repository it says so."""
    root = NOTEBOOKS[0].parent.parent
    code = _first_code_cell(NOTEBOOKS[0]) + "\nprint('cwd', os.getcwd())\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=root / "notebooks", capture_output=True, text=True)
    assert out.returncode == 0 and f"working in {root}\ncwd {root}\n" == out.stdout, out.stderr
    outside = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert outside.returncode == 1 and "run this notebook inside the vnnews repository" in outside.stderr
