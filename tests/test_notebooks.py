"""The notebooks are committed without outputs (they may hold article text and go stale); nbmake runs them.

`make test` executes every notebook top to bottom (``--nbmake`` in pytest's addopts, with
``notebooks`` in testpaths); this file checks what is in git.
"""

import json
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


def test_quickstart_notebook_also_runs_from_the_repo_root(tmp_path):
    """nbmake starts kernels in notebooks/; a person may start Jupyter in the repo root instead."""
    import nbformat
    from nbclient import NotebookClient

    root = NOTEBOOKS[0].parent.parent
    notebook = nbformat.read(NOTEBOOKS[0], as_version=4)
    NotebookClient(notebook, timeout=300, resources={"metadata": {"path": str(root)}}).execute()
    printed = "".join(out.get("text", "") for cell in notebook.cells for out in cell.get("outputs", []))
    assert f"working in {root}" in printed and "written 10" in printed
