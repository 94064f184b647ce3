"""The example notebooks and scripts run as a user would run them."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
nbformat = pytest.importorskip("nbformat")


def _run_notebook(path: Path, workdir: Path):
    import nbclient

    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.ipynb")))
def test_notebooks_are_committed_without_outputs(name):
    nb = nbformat.read(EXAMPLES / name, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name} has outputs: clear them"


@pytest.mark.slow
def test_tutorial_notebook_runs(tmp_path, minilm_path, monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel uses the notebook's inline backend
    nb = _run_notebook(EXAMPLES / "tutorial.ipynb", tmp_path)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "6 layers x 12 heads" in printed
    assert "attention implementation after extract: sdpa" in printed
    assert "6 attention tensors of shape (2, 12, 16, 16)" in printed
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5  # grid, two heads, two comparison figures
    assert (tmp_path / "grid.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "tutorial-run" / "best" / "config.json").exists()


SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_scripts_run_on_a_tiny_model(name, tmp_path):
    from attnviz.testing import save_tiny_model

    kind, head = ("gpt2", "lm") if "generat" in name else ("bert", None)
    model = save_tiny_model(kind, tmp_path / "model", head=head)
    done = subprocess.run([sys.executable, str(EXAMPLES / name), "--model", str(model), "--out", str(tmp_path / "out")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert any((tmp_path / "out").iterdir())
