"""The two-way explorer widget: traits, their checks, the HTML fallback, and its ES module in Chromium.

The browser test loads the widget's own ES module into a page with a stand-in for the
widget model (get / set / on / save_changes, as anywidget gives it): a click in the page
sets the traits, and a trait set from outside redraws the page. The real front ends
(JupyterLab, marimo) are in test_jupyterlab.py and test_marimo.py.
"""
from __future__ import annotations

import json
import os
import sys

import pytest

from attnviz.capture import Capture, Example
from attnviz.notebook import explorer, explorer_view
from tests.notebook.test_browser import CHROMIUM, SHOTS, browser  # noqa: F401 (fixture)

anywidget = pytest.importorskip("anywidget")
traitlets = pytest.importorskip("traitlets")


def test_traits_follow_the_arguments_and_are_checked(bert_capture):
    w = explorer(bert_capture, example=1, layer=1, head=3, scale="sqrt")
    assert isinstance(w, anywidget.AnyWidget)
    assert w.selection() == {"example": 1, "kind": "self", "layer": 1, "head": 3, "query": None, "view": "head",
                             "scale": "sqrt", "hide_special": False, "pair": "all"}
    seen = []
    w.observe(lambda change: seen.append((change["name"], change["new"])), names=["layer", "head"])
    w.layer, w.head = 0, "mean"
    assert seen == [("layer", 0), ("head", "mean")]
    for name, bad in [("layer", 7), ("head", 9), ("head", "median"), ("example", 99), ("kind", "cross"),
                      ("view", "table"), ("scale", "log"), ("query", 999), ("pair", "AC")]:
        with pytest.raises(traitlets.TraitError, match=name):
            setattr(w, name, bad)
    w.query = 2
    assert w.query == 2
    w.query = None


def test_mimebundle_carries_the_static_explorer_at_the_selection(bert_capture):
    w = explorer(bert_capture, examples=[0, 2])
    w.example, w.layer, w.head, w.view, w.query = 2, 1, 2, "grid", 3
    data, _ = w._repr_mimebundle_()
    assert set(data) == {"application/vnd.jupyter.widget-view+json", "text/html", "text/plain"}
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == w.model_id
    assert 'data-attnviz-view="explorer"' in data["text/html"] and "attnvizViews.mount" in data["text/html"]
    page = w.html().payload
    assert (page["initialExample"], page["initialLayer"], page["initialHead"], page["view"], page["initialQuery"]) == \
        (1, 1, 2, "grid", 3)
    assert "Explorer(" not in data["text/plain"] or len(data["text/plain"]) < 300
    # The widget shows the data explorer_view builds: one JavaScript, one payload.
    assert w.payload["examples"] == explorer_view(bert_capture, examples=[0, 2]).payload["examples"]


def test_bad_input_and_missing_anywidget(bert_capture, monkeypatch):
    with pytest.raises(TypeError, match="Capture"):
        explorer("not a capture")
    with pytest.raises(ValueError, match="view"):
        explorer(bert_capture, view="table")
    with pytest.raises(IndexError, match="out of range"):
        explorer(bert_capture, examples=[7])
    with pytest.raises(ValueError, match="no attention"):
        explorer(Capture([Example(tokens=["a"])]))
    from attnviz.notebook import widgets as module

    module._explorer_class.cache_clear()
    monkeypatch.setitem(sys.modules, "anywidget", None)
    try:
        with pytest.raises(ImportError, match=r"attnviz\[notebook\]"):
            explorer(bert_capture)
    finally:
        monkeypatch.undo()
        module._explorer_class.cache_clear()


HARNESS = """<!DOCTYPE html><html><head><meta charset="utf-8"><style>%(css)s</style></head><body>
<div id="el"></div>
<script type="module">
class Model {
  constructor(s) { this.s = s; this.h = {}; this.saves = 0; }
  get(n) { return this.s[n]; }
  set(n, v) { const old = this.s[n]; this.s[n] = v; if (old !== v) { (this.h["change:" + n] || []).forEach((f) => f()); } }
  on(e, f) { (this.h[e] = this.h[e] || []).push(f); }
  off(e, f) { this.h[e] = (this.h[e] || []).filter((g) => g !== f); }
  save_changes() { this.saves += 1; }
}
const model = window.model = new Model(%(state)s);
const url = URL.createObjectURL(new Blob([%(esm)s], { type: "text/javascript" }));
const mod = await import(url);
mod.default.render({ model, el: document.getElementById("el") });
</script></body></html>"""


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_module_is_two_way_in_chromium(browser, bert_capture, tmp_path):  # noqa: F811
    w = explorer(bert_capture, layer=1, head=2)
    state = dict(w.selection(), payload=w.payload)
    path = tmp_path / "widget.html"
    path.write_text(HARNESS % {"css": w._css, "state": json.dumps(state), "esm": json.dumps(w._esm)})
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "blob:")) else r.abort())
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector("[data-attnviz-rendered]", state="attached", timeout=20_000)
    root = page.locator(".attnviz-view")
    assert (root.get_attribute("data-layer"), root.get_attribute("data-head")) == ("1", "2")

    def model(name):
        return page.evaluate("n => window.model.get(n)", name)

    # Page -> model: the menus, a row of the map, a thumbnail of the grid.
    page.select_option('select[name="layer"]', "0")
    assert model("layer") == 0
    page.locator("canvas.av-big").click(position={"x": 5, "y": 3 * 22 + 5})
    assert model("query") == 3 and root.get_attribute("data-query") == "3"
    page.select_option('select[name="view"]', "grid")
    assert model("view") == "grid"
    assert page.locator(".av-explorer-grid").get_attribute("data-selected") == "0,2"
    page.click('canvas.av-thumb[data-layer="1"][data-head="3"]')
    assert (model("layer"), model("head")) == (1, 3)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "widget_harness_grid.png"), full_page=True)
    # Model -> page: what Python sets reaches the page.
    page.evaluate("() => { window.model.set('view', 'head'); window.model.set('head', 'mean'); window.model.set('example', 2); }")
    page.wait_for_function("document.querySelector('.attnviz-view').getAttribute('data-example') === '2'")
    assert root.get_attribute("data-head") == "mean" and root.get_attribute("data-view") == "head"
    assert page.locator('select[name="head"]').input_value() == "mean"
    page.screenshot(path=str(SHOTS / "widget_harness_head.png"), full_page=True)
    assert errors == []
    context.close()
