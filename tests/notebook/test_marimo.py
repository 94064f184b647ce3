"""The explorer widget in marimo: a real ``marimo run`` server, driven by headless Chromium, network closed.

A click in the explorer reaches ``w.value`` and re-runs the cell that reads it (marimo's
reactivity through the widget's traits); the HTML views show as cell outputs too.
Screenshots go to /tmp/notebook_shots/.
"""
from __future__ import annotations

import os

import pytest

from tests.notebook.servers import ROOT, free_port, offline, server
from tests.notebook.test_browser import CHROMIUM, SHOTS, browser  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]
pytest.importorskip("marimo", reason="marimo is not installed")
pytest.importorskip("anywidget")

NOTEBOOK = '''import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    import attnviz
    from attnviz.testing import tiny_model
    model, tok = tiny_model("bert")
    cap = attnviz.extract(model, ["the cat sat on the mat", "a dog ran"], tokenizer=tok)
    w = mo.ui.anywidget(attnviz.notebook.explorer(cap, layer=1, head=2))
    w
    return attnviz, cap, mo, w


@app.cell
def _(mo, w):
    mo.md(f"picked: layer={w.value['layer']} head={w.value['head']} query={w.value['query']}")
    return


@app.cell
def _(attnviz, cap, mo):
    attnviz.notebook.model_view(cap)
    return


if __name__ == "__main__":
    app.run()
'''


@pytest.fixture(scope="module")
def marimo_app(tmp_path_factory):
    home = tmp_path_factory.mktemp("marimo")
    (home / "views.py").write_text(NOTEBOOK)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), HOME=str(home), MPLBACKEND="Agg",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    url = f"http://127.0.0.1:{port}"
    with server("marimo", ["run", str(home / "views.py"), "--headless", "--host", "127.0.0.1", "--port", str(port),
                           "--no-token"], cwd=home, env=env, ready=url, log=home / "server.log"):
        yield url


def test_explorer_is_two_way_in_marimo(browser, marimo_app):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    outside = offline(context, marimo_app, "ws://127.0.0.1")
    page = context.new_page()
    page.goto(marimo_app)
    widget = page.locator("[data-attnviz-widget]")  # locators reach into marimo's shadow roots
    page.locator("[data-attnviz-widget][data-attnviz-rendered]").wait_for(state="attached", timeout=90_000)
    page.get_by_text("picked: layer=1 head=2 query=None").wait_for(timeout=60_000)
    assert (widget.get_attribute("data-layer"), widget.get_attribute("data-head")) == ("1", "2")
    # A click in the page re-runs the cell that reads the widget's value.
    widget.locator('select[name="layer"]').select_option("0")
    page.get_by_text("picked: layer=0 head=2 query=None").wait_for(timeout=30_000)
    widget.locator("canvas.av-big").click(position={"x": 5, "y": 3 * 22 + 5})
    page.get_by_text("picked: layer=0 head=2 query=3").wait_for(timeout=30_000)
    widget.locator('select[name="view"]').select_option("grid")
    widget.locator('canvas.av-thumb[data-layer="1"][data-head="3"]').click()
    page.get_by_text("picked: layer=1 head=3 query=3").wait_for(timeout=30_000)
    # The HTML view in the third cell (marimo puts an output with scripts in an iframe) renders and responds.
    model = page.frame_locator("iframe").locator('.attnviz-view[data-attnviz-view="model"][data-attnviz-rendered]')
    model.wait_for(state="attached", timeout=30_000)
    model.locator('canvas.av-thumb[data-layer="1"][data-head="1"]').click()
    assert model.get_attribute("data-selected") == "1,1"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "marimo.png"), full_page=True)
    context.close()
    assert [u for u in outside if "127.0.0.1" in u] == []
