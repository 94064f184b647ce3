"""examples/notebook_views.ipynb runs headless without error, and is committed without outputs."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "notebook_views.ipynb"
nbformat = pytest.importorskip("nbformat")


def test_committed_notebook_has_no_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the example notebook has no code"
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
def test_notebook_executes(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    from jupyter_client.kernelspec import NoSuchKernel

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except NoSuchKernel:
        pytest.skip(f"no python3 kernel: run `{sys.executable} -m ipykernel install --sys-prefix`")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert sum("data-attnviz-view=" in h for h in html) == 4  # 3 views and the explorer widget's static copy
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "model_view.html" in printed and "'head': 'mean'" in printed
