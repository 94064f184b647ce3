"""The views in a real JupyterLab, driven by headless Chromium with the network closed.

Run a notebook, save it, shut the kernel down and reopen it: the HTML views render again
(a view displayed twice renders twice), the explorer widget is two-way while the kernel
runs (a click in the page reaches ``w.layer``, ``w.head``, ``w.query``; Python's
assignments reach the page) and after the reopen its output is the static explorer, and
JupyterLab's dark theme leaves the token labels readable. Screenshots go to
/tmp/notebook_shots/.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.notebook.servers import command, jupyter, kernel_print, kernel_words, offline, wait_idle, write_notebook
from tests.notebook.test_browser import CHROMIUM, SHOTS, browser, contrast  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]
nbformat = pytest.importorskip("nbformat")
pytest.importorskip("jupyterlab", reason="jupyterlab is not installed (pip install 'attnviz[dev]')")
pytest.importorskip("anywidget")

CELLS = [
    "import attnviz\nfrom attnviz.testing import tiny_model\n"
    "model, tok = tiny_model('bert')\n"
    "cap = attnviz.extract(model, ['the cat sat on the mat', 'a dog ran'], tokenizer=tok)",
    "view = attnviz.notebook.head_view(cap)\ndisplay(view)\ndisplay(view)",
    "attnviz.notebook.explorer_view(cap)",
    "w = attnviz.notebook.explorer(cap)\nw",
    "w.layer = 1\nw.head = 2\nprint('set:', w.layer, w.head)",
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on localhost with one notebook to run; yields (url, token, notebook path)."""
    home = tmp_path_factory.mktemp("lab")
    path = write_notebook(home / "work" / "views.ipynb", CELLS)
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    apputils = home / "settings" / "@jupyterlab" / "apputils-extension"
    apputils.mkdir(parents=True)
    (apputils / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    with jupyter("jupyterlab", home, [f"--LabApp.user_settings_dir={home / 'settings'}",
                                      f"--LabApp.workspaces_dir={home / 'workspaces'}",
                                      "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False",
                                      "--LabApp.extension_manager=readonly"],
                 MPLBACKEND="module://matplotlib_inline.backend_inline") as (url, token):
        yield url, token, path


def open_lab(browser, url: str, token: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    outside = offline(context, url, "ws://127.0.0.1")
    page = context.new_page()
    page.goto(f"{url}/lab/tree/views.ipynb?token={token}")
    page.wait_for_function("window.jupyterapp && document.querySelector('.jp-NotebookPanel .jp-Cell')",
                           timeout=60_000)
    return context, page, outside


def test_run_save_restart_reopen(browser, lab):
    url, token, path = lab
    context, page, outside = open_lab(browser, url, token)
    wait_idle(page)
    command(page, "notebook:run-all-cells")
    page.wait_for_function("document.body.innerText.includes('set: 1 2')", timeout=120_000)
    # head view twice, explorer_view, the widget's explorer and its static copy (hidden while it is live)
    page.wait_for_function("document.querySelectorAll('[data-attnviz-rendered]').length === 5", timeout=30_000)
    assert not page.locator("[data-attnviz-twin]").is_visible()
    assert page.locator(".av-fallback").count() == 0  # the second display of one view rendered too
    widget = page.locator("[data-attnviz-widget]")
    assert widget.count() == 1
    # Python -> page: the assignments of the last cell reached the page.
    page.wait_for_function("(() => { const w = document.querySelector('[data-attnviz-widget]');"
                           " return w.getAttribute('data-layer') === '1' && w.getAttribute('data-head') === '2'; })()")
    # Page -> Python: a menu, a row of the map, then a thumbnail of the grid.
    widget.locator('select[name="layer"]').select_option("0")
    widget.locator("canvas.av-big").click(position={"x": 5, "y": 2 * 22 + 5})
    page.wait_for_function("document.querySelector('[data-attnviz-widget]').getAttribute('data-query') === '2'")
    assert kernel_print(page, "print(w.layer, w.head, w.query)").split() == ["0", "2", "2"]
    widget.locator('select[name="view"]').select_option("grid")
    widget.locator('canvas.av-thumb[data-layer="1"][data-head="3"]').click()
    assert kernel_words(page, "print(w.view, w.layer, w.head)", ["grid", "1", "3"]) == ["grid", "1", "3"]
    kernel_print(page, "w.view = 'head'; w.head = 'mean'")
    page.wait_for_function("document.querySelector('[data-attnviz-widget]').getAttribute('data-head') === 'mean'")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "lab_live.png"), full_page=True)
    page.locator(".jp-Cell >> nth=3").locator(".jp-OutputArea").screenshot(path=str(SHOTS / "lab_live_widget.png"))
    command(page, "docmanager:save")
    page.wait_for_function("!window.jupyterapp.shell.currentWidget.context.model.dirty", timeout=20_000)
    saved = nbformat.read(path, as_version=4)
    live, copy = (o["data"] for o in saved.cells[3].outputs)
    assert set(live) == {"application/vnd.jupyter.widget-view+json"}
    assert 'data-attnviz-view="explorer"' in copy["text/html"] and "data-attnviz-twin" in copy["text/html"]
    page.evaluate("window.jupyterapp.serviceManager.sessions.shutdownAll()")
    context.close()

    # Reopened with a new kernel that has run nothing: no widget models exist any more.
    context, page, outside2 = open_lab(browser, url, token)
    page.wait_for_function("document.querySelectorAll('[data-attnviz-rendered]').length === 4", timeout=60_000)
    assert page.locator(".av-fallback").count() == 0
    page.wait_for_function("document.querySelector('.jp-Cell:nth-child(4)') !== null")
    time.sleep(1)  # the widget renderer gives up once the manager has restored
    shown = page.locator(".jp-Cell >> nth=3").inner_text()
    assert "model not found" not in shown and "Loading widget" not in shown
    assert page.locator("[data-attnviz-twin]").is_visible()
    static = page.locator(".jp-Cell >> nth=3").locator(".attnviz-view[data-attnviz-rendered]")
    assert static.count() == 1 and static.get_attribute("data-layer") == "1"
    static.locator('select[name="layer"]').select_option("0")  # it works without a kernel
    assert static.get_attribute("data-layer") == "0"
    page.screenshot(path=str(SHOTS / "lab_reopened.png"), full_page=True)
    page.locator(".jp-Cell >> nth=3").locator(".jp-OutputArea").screenshot(path=str(SHOTS / "lab_reopened_explorer.png"))
    page.locator(".jp-Cell >> nth=2").locator(".jp-OutputArea").screenshot(path=str(SHOTS / "lab_reopened_explorer_view.png"))

    command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    page.wait_for_function("document.body.getAttribute('data-jp-theme-light') === 'false'", timeout=30_000)
    page.wait_for_function("document.querySelectorAll('.attnviz-view.av-dark').length === 4", timeout=10_000)
    for sel in (".av-left .av-tok:not(.av-special)", ".av-left .av-special", ".av-side .av-tok", ".av-bar label"):
        assert contrast(page, sel) >= 4.5, sel
    page.screenshot(path=str(SHOTS / "lab_dark.png"), full_page=True)
    page.locator(".jp-Cell >> nth=2").locator(".jp-OutputArea").screenshot(path=str(SHOTS / "lab_dark_explorer_view.png"))
    command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
    page.wait_for_function("document.querySelectorAll('.attnviz-view.av-dark').length === 0", timeout=30_000)
    context.close()
    assert [u for u in outside + outside2 if "127.0.0.1" not in u] == []
