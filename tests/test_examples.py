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
    for cell in nb.cells:  # each comparison figure drawn once, not the returned object plus an inline copy
        if cell.cell_type == "code" and "comparison.plot(" in cell.source:
            assert sum("image/png" in o.get("data", {}) for o in cell.outputs) == 1, cell.source
    assert (tmp_path / "grid.pdf").read_bytes().startswith(b"%PDF")
    assert (tmp_path / "tutorial-run" / "best" / "config.json").exists()


SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py"))


def test_every_script_has_expectations():
    assert sorted(EXPECTED) == SCRIPTS


# Runs every example script in ONE fresh interpreter (one start and one import of torch and transformers,
# not six), each as `python SCRIPT --model M --out OUT` from its own folder: sys.argv and the working
# directory set, run as __main__, stdout kept, a traceback or a non-zero exit recorded.
RUNNER = """
import contextlib, io, json, os, runpy, sys, traceback
for job in json.loads(sys.argv[1]):
    os.chdir(job["cwd"])
    sys.argv = [job["script"], *job["args"]]
    stdout, error, code = io.StringIO(), "", 0
    with contextlib.redirect_stdout(stdout):
        try:
            runpy.run_path(job["script"], run_name="__main__")
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
            error = "" if code == 0 else f"SystemExit({exit.code!r})"
        except BaseException:
            code, error = 1, traceback.format_exc()
    with open(job["record"], "w") as f:
        json.dump({"returncode": code, "stdout": stdout.getvalue(), "stderr": error}, f)
"""


@pytest.fixture(scope="module")
def script_runs(tmp_path_factory):
    """name -> (its folder, {"returncode", "stdout", "stderr"}) for every example script, all run once."""
    import json

    from attnviz.testing import save_tiny_model

    models = tmp_path_factory.mktemp("models")
    bert, gpt2 = save_tiny_model("bert", models / "bert"), save_tiny_model("gpt2", models / "gpt2", head="lm")
    jobs, folders = [], {}
    for name in SCRIPTS:
        folders[name] = folder = tmp_path_factory.mktemp(Path(name).stem)
        model = gpt2 if "generat" in name else bert
        jobs.append({"script": str(EXAMPLES / name), "cwd": str(folder), "record": str(folder / "run.json"),
                     "args": ["--model", str(model), "--out", str(folder / "out")]})
    done = subprocess.run([sys.executable, "-c", RUNNER, json.dumps(jobs)], cwd=models, capture_output=True,
                          text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-2000:]
    return {name: (folders[name], json.loads((folders[name] / "run.json").read_text())) for name in SCRIPTS}


@pytest.mark.parametrize("name", SCRIPTS)
def test_example_scripts_run_on_a_tiny_model(name, script_runs):
    folder, done = script_runs[name]
    assert done["returncode"] == 0, done["stderr"][-2000:]
    out = folder / "out"
    for pattern in EXPECTED[name]:
        found = sorted(out.glob(pattern))
        assert found, f"{name} wrote no {pattern} (it wrote {sorted(p.name for p in out.rglob('*'))})"
        for path in found:
            _check_file(path)
    printed = [Path(word) for word in done["stdout"].split() if word.startswith(str(out))]
    assert printed and all(p.exists() for p in printed), "the paths the script prints must exist"


# What each script promises in its --out folder, checked by content, not only by name.
EXPECTED = {
    "dataset_stats.py": ["head_stats.csv", "entropy.png"],
    "extract_and_report.py": ["capture.safetensors"],
    "finetune_and_compare.py": ["comparison/*.json", "comparison/*.png", "run/best/config.json"],
    "generation.py": ["generation_grid.png", "generation_view.html"],
    "html_views.py": ["head_view_*.html", "model_view.html"],
    "paper_figures.py": ["grid.pdf", "last_layer_mean.pdf", "hidden_norms.png", "layer_similarity.svg"],
}
MAGIC = {".png": b"\x89PNG", ".pdf": b"%PDF-", ".svg": b"<?xml"}


def _check_file(path: Path) -> None:
    import json

    import attnviz

    data = path.read_bytes()
    if path.suffix in MAGIC:
        assert data.startswith(MAGIC[path.suffix]) and len(data) > 1000, path
    elif path.suffix == ".html":
        assert b"<html" in data[:500].lower() and b"<script" in data, path
    elif path.suffix == ".csv":
        header, first = data.decode().splitlines()[:2]
        assert "layer" in header and "head" in header and first, path
    elif path.suffix == ".json":
        json.loads(data)
    elif path.suffix == ".safetensors":
        assert len(attnviz.load(path)) >= 1
