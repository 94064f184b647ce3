"""The views where users run them, headless, network closed (besides JupyterLab and marimo, in their own files).

* Notebook 7: a real ``jupyter notebook`` server; the HTML views render and the explorer
  widget is two-way.
* nbconvert: a notebook run by nbclient and exported to HTML; the views and the widget's
  static copy render in the export, with no kernel.
* VS Code-style webview and Colab-style output frames: VS Code and Colab cannot run here,
  so their frame rules are reproduced in a test page: VS Code shows outputs in a webview,
  a sandboxed iframe with scripts allowed and no same-origin access (``sandbox="allow-scripts"``);
  Colab puts each output in its own iframe (a separate window per output, here
  ``sandbox="allow-scripts"`` srcdoc frames, one per view). Each view renders and responds to
  a click inside its frame.

Screenshots go to /tmp/notebook_shots/.
"""
from __future__ import annotations

import html
import json
import os

import pytest

import attnviz
from attnviz.notebook import explorer, explorer_view, head_view, model_view, neuron_view
from tests.notebook.servers import (
    ROOT,
    command,
    jupyter,
    kernel_words,
    new_notebook,
    offline,
    wait_idle,
    write_notebook,
)
from tests.notebook.test_browser import CHROMIUM, SHOTS, browser  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]
pytest.importorskip("nbformat")
CELLS = [
    "import attnviz\nfrom attnviz.testing import tiny_model\n"
    "model, tok = tiny_model('bert')\n"
    "cap = attnviz.extract(model, ['the cat sat on the mat', 'a dog ran'], tokenizer=tok)",
    "attnviz.notebook.head_view(cap)",
    "attnviz.notebook.model_view(cap)",
    "w = attnviz.notebook.explorer(cap)\nw",
]


def test_views_in_sandboxed_frames_as_vscode_and_colab(browser, bert_capture, tiny_bert, tmp_path):  # noqa: F811
    views = {"head": head_view(bert_capture), "model": model_view(bert_capture),
             "explorer": explorer_view(bert_capture), "neuron": neuron_view(tiny_bert[0], bert_capture),
             "widget-copy": explorer(bert_capture)}
    fragments = {name: (v.static_bundle()["text/html"] if name == "widget-copy" else v._repr_html_())
                 for name, v in views.items()}
    # VS Code: every output of a notebook in one webview document, sandboxed, opaque origin.
    webview = "<!DOCTYPE html><html><body class='vscode-light'>" + "".join(fragments.values()) + "</body></html>"
    # Colab: each output in its own frame.
    frames = "".join(f'<iframe class="colab" data-name="{n}" sandbox="allow-scripts" style="width:1300px;height:700px" '
                     f'srcdoc="{html.escape("<!DOCTYPE html><html><body>" + f + "</body></html>", quote=True)}"></iframe>'
                     for n, f in fragments.items())
    host = tmp_path / "frames.html"
    host.write_text("<!DOCTYPE html><html><body>"
                    f'<iframe id="vscode" sandbox="allow-scripts" style="width:1300px;height:2400px" '
                    f'srcdoc="{html.escape(webview, quote=True)}"></iframe>{frames}</body></html>')
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside = offline(context, "file:")
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(host.as_uri())
    for where, frame in [("vscode", page.frame_locator("#vscode"))] + [
            (n, page.frame_locator(f'iframe.colab[data-name="{n}"]')) for n in fragments]:
        roots = frame.locator(".attnviz-view[data-attnviz-rendered]")
        roots.first.wait_for(state="attached", timeout=20_000)
        if where == "vscode":
            assert roots.count() == len(fragments), where
        model = frame.locator('.attnviz-view[data-attnviz-view="model"]')
        if model.count():
            frame.locator('.attnviz-view[data-attnviz-view="model"][data-attnviz-rendered]').wait_for(
                state="attached", timeout=20_000)
            for _ in range(3):  # one click lost to a late re-layout of the frame was seen once at load 5: retry, bounded
                model.locator('canvas.av-thumb[data-layer="1"][data-head="2"]').click()
                if model.get_attribute("data-selected") == "1,2":
                    break
                page.wait_for_timeout(500)
            assert model.get_attribute("data-selected") == "1,2", where
        for one in frame.locator('.attnviz-view[data-attnviz-view="explorer"]').all():
            one.locator('select[name="layer"]').select_option("1")
            assert one.get_attribute("data-layer") == "1", where
        neuron = frame.locator('.attnviz-view[data-attnviz-view="neuron"]')
        if neuron.count():
            neuron.locator('select[name="head"]').select_option("3")
            assert neuron.get_attribute("data-head") == "3", where
        assert frame.locator(".av-fallback").count() == 0, where
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "frames_vscode_colab.png"), full_page=True)
    context.close()
    assert errors == [] and outside == []


def test_nbconvert_export_shows_the_views_without_a_kernel(browser, tmp_path):  # noqa: F811
    nbclient = pytest.importorskip("nbclient")
    nbconvert = pytest.importorskip("nbconvert")
    pytest.importorskip("anywidget")
    nb = new_notebook(CELLS)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    old = dict(os.environ)
    os.environ.update(env)
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    body, _ = nbconvert.HTMLExporter(template_name="lab").from_notebook_node(nb)
    path = tmp_path / "export.html"
    path.write_text(body)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside = offline(context, "file:")
    page = context.new_page()
    page.goto(path.as_uri())
    # head view, model view, and the explorer widget's static copy (the live widget has no state here)
    page.wait_for_function("document.querySelectorAll('[data-attnviz-rendered]').length === 3", timeout=30_000)
    assert page.locator(".av-fallback").count() == 0 and page.locator("[data-attnviz-widget]").count() == 0
    copy = page.locator("[data-attnviz-twin] .attnviz-view")
    assert copy.is_visible()
    copy.locator('select[name="head"]').select_option("mean")
    assert copy.get_attribute("data-head") == "mean"
    assert "Explorer(" not in page.inner_text("body")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "nbconvert_export.png"), full_page=True)
    context.close()
    assert [u for u in outside if not u.startswith("http")] == []


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory):
    pytest.importorskip("notebook", reason="Notebook 7 is not installed (pip install 'attnviz[dev]')")
    home = tmp_path_factory.mktemp("nb7")
    write_notebook(home / "work" / "views.ipynb", CELLS + ["w.layer = 1\nw.head = 2\nprint('set:', w.layer, w.head)"])
    with jupyter("notebook", home, ["--JupyterNotebookApp.expose_app_in_browser=True"]) as (url, token):
        yield url, token


def test_notebook7_views_and_two_way_widget(browser, notebook7):  # noqa: F811
    url, token = notebook7
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside = offline(context, url, "ws://127.0.0.1")
    page = context.new_page()
    page.goto(f"{url}/notebooks/views.ipynb?token={token}")
    page.wait_for_function("window.jupyterapp && document.querySelector('.jp-NotebookPanel .jp-Cell')", timeout=60_000)
    wait_idle(page)
    command(page, "notebook:run-all-cells")
    page.wait_for_function("document.body.innerText.includes('set: 1 2')", timeout=120_000)
    # head view, model view, the widget and its (hidden) static copy
    page.wait_for_function("document.querySelectorAll('[data-attnviz-rendered]').length === 4", timeout=30_000)
    widget = page.locator("[data-attnviz-widget]")
    page.wait_for_function("document.querySelector('[data-attnviz-widget]').getAttribute('data-layer') === '1'")
    assert not page.locator("[data-attnviz-twin]").is_visible()
    widget.locator('select[name="head"]').select_option("max")
    assert kernel_words(page, "print(w.head)", ["max"]) == ["max"]
    model = page.locator('.attnviz-view[data-attnviz-view="model"]')
    model.locator('canvas.av-thumb[data-layer="1"][data-head="3"]').click()
    assert model.get_attribute("data-selected") == "1,3"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "notebook7.png"), full_page=True)
    page.evaluate("window.jupyterapp.serviceManager.sessions.shutdownAll()")
    context.close()
    assert [u for u in outside if "127.0.0.1" not in u] == []


def test_copy_is_json_safe(bert_capture):
    """The static copy's script gets its id as a JSON string (no markup from a crafted id)."""
    w = explorer(bert_capture)
    assert json.dumps(w._twin) in w.static_bundle()["text/html"]
    assert isinstance(w, attnviz.notebook.Explorer)
