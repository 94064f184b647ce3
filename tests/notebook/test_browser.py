"""The saved views in headless Chromium with the network blocked: they render and respond.

Screenshots go to /tmp/notebook_shots/ for a person to look at.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example
from attnviz.notebook import head_view, model_view

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path("/tmp/notebook_shots")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]


@pytest.fixture(scope="module")
def sharp_capture(bert_capture):
    """The tiny BERT's tokens with peaked random attention (its own is near uniform)."""
    ex = bert_capture[2]
    n = ex.num_tokens
    maps = np.random.default_rng(0).dirichlet(np.full(n, 0.2), size=(2, 4, n)).astype("float32")
    example = Example(tokens=ex.tokens, display_tokens=ex.display_tokens, special_mask=ex.special_mask,
                      attentions=maps)
    return Capture([example], layers=[0, 1], heads=[0, 1, 2, 3], num_layers=2, num_heads=4)


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


class Page:
    """A page with a saved view open, its console messages and attempted requests."""

    def __init__(self, browser, path: Path):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("[data-attnviz-rendered]", state="attached", timeout=20_000)

    def _route(self, route):
        if route.request.url.startswith("file:"):
            route.continue_()
        else:
            self.requests.append(route.request.url)
            route.abort()

    def attr(self, name: str) -> str:
        return self.page.get_attribute(".attnviz-view", name)

    def canvas(self, selector: str) -> str:
        return self.page.eval_on_selector(selector, "c => c.toDataURL()")

    def shot(self, name: str) -> int:
        """Save a screenshot and return how many distinct colours it has."""
        from PIL import Image

        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / name
        self.page.screenshot(path=str(path), full_page=True)
        with Image.open(path) as img:
            return len(img.convert("RGB").getcolors(maxcolors=1 << 20) or [])

    def check_clean(self):
        assert self.errors == [] and self.requests == []
        self.context.close()


@pytest.fixture
def open_view(browser, tmp_path):
    def _open(view, name: str) -> Page:
        return Page(browser, view.save(tmp_path / name))
    return _open


def test_head_view_hover_layers_heads(open_view, sharp_capture):
    ex = sharp_capture[0]
    p = open_view(head_view(sharp_capture), "head.html")
    assert p.page.locator(".av-left .av-tok").all_inner_texts() == ex.display_tokens
    assert p.page.locator(".av-right .av-tok").all_inner_texts() == ex.display_tokens
    all_lines, image = int(p.attr("data-lines")), p.canvas("canvas.av-lines")
    assert all_lines > 0 and p.shot("head_view.png") > 50

    p.page.hover(".av-left .av-tok >> nth=3")
    assert p.attr("data-focus") == "q:3"
    assert 0 < int(p.attr("data-lines")) < all_lines and p.canvas("canvas.av-lines") != image
    p.shot("head_view_hover.png")
    p.page.mouse.move(1000, 10)
    assert p.attr("data-focus") == "" and p.canvas("canvas.av-lines") == image

    p.page.select_option(".av-bar select >> nth=0", "1")
    assert p.attr("data-layer") == "1" and p.canvas("canvas.av-lines") != image
    layer1 = p.canvas("canvas.av-lines")
    p.page.click(".av-head-btn >> nth=0")
    assert p.canvas("canvas.av-lines") != layer1
    p.page.check("text=hide special tokens")
    shown = p.page.locator(".av-left .av-tok").all_inner_texts()
    assert shown == [t for t, s in zip(ex.display_tokens, ex.special_mask, strict=True) if not s]
    p.check_clean()


def test_model_view_click_enlarges(open_view, sharp_capture):
    ex = sharp_capture[0]
    p = open_view(model_view(sharp_capture), "model.html")
    assert p.page.locator("canvas.av-thumb").count() == sharp_capture.num_layers * sharp_capture.num_heads
    assert p.attr("data-selected") == "0,0"
    assert p.page.locator(".av-side .av-tok").all_inner_texts() == ex.display_tokens
    big = p.canvas("canvas.av-big")
    assert p.shot("model_view.png") > 50
    p.page.click('canvas.av-thumb[data-layer="1"][data-head="2"]')
    assert p.attr("data-selected") == "1,2" and p.canvas("canvas.av-big") != big
    assert "layer 1, head 2" in p.page.inner_text(".av-title")
    p.page.hover("canvas.av-big")
    assert ":" in p.page.inner_text(".av-status") and "key #" in p.page.inner_text(".av-status")
    p.check_clean()


def test_seq2seq_kind_switch(open_view, t5_capture):
    ex = t5_capture[0]
    p = open_view(head_view(t5_capture), "head_t5.html")
    assert p.attr("data-kind") == "encoder"
    p.page.select_option(".av-bar select >> nth=0", label="Cross")
    assert p.attr("data-kind") == "cross"
    assert p.page.locator(".av-left .av-tok").all_inner_texts() == ex.decoder_display_tokens
    assert p.page.locator(".av-right .av-tok").all_inner_texts() == ex.display_tokens
    assert p.shot("head_view_t5_cross.png") > 20
    p.check_clean()


def test_generated_tokens_marked_and_two_views_on_one_page(browser, tmp_path, tiny_gpt2, bert_capture):
    cap = attnviz.extract_generation(tiny_gpt2[0], "the cat sat on", max_new_tokens=4, tokenizer=tiny_gpt2[1])
    views = [head_view(cap), model_view(cap), head_view(bert_capture)]
    body = "\n".join(v._repr_html_() for v in views)
    path = tmp_path / "three.html"
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{body}</body></html>")
    p = Page(browser, path)
    p.page.wait_for_function("document.querySelectorAll('[data-attnviz-rendered]').length === 3")
    first = p.page.locator(f"#{views[0].view_id}")
    generated = len(cap[0].tokens) - cap[0].prompt_length
    assert first.locator(".av-left .av-gen").count() == generated
    assert first.locator(".av-left .av-boundary").count() == 1
    assert p.page.locator(f"#{views[2].view_id} .av-left .av-gen").count() == 0
    p.page.hover(f"#{views[2].view_id} .av-left .av-tok >> nth=1")
    assert p.page.get_attribute(f"#{views[2].view_id}", "data-focus") == "q:1"
    assert p.page.get_attribute(f"#{views[0].view_id}", "data-focus") == ""
    assert p.shot("three_views.png") > 50
    p.check_clean()


def page_of(browser, tmp_path, name: str, body: str, *, page_style: str = "", body_attrs: str = "") -> Page:
    path = tmp_path / name
    path.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{page_style}</style></head>"
                    f"<body {body_attrs}>{body}</body></html>")
    return Page(browser, path)


def test_a_view_displayed_twice_renders_twice(browser, tmp_path, sharp_capture):
    view = head_view(sharp_capture)
    fresh = view._repr_html_() + view._repr_html_()  # display(v); display(v)
    p = page_of(browser, tmp_path, "twice.html", fresh)
    p.page.wait_for_function("document.querySelectorAll('[data-attnviz-rendered]').length === 2")
    assert p.page.locator(".attnviz-view .av-fallback").count() == 0
    assert p.page.locator(".attnviz-view >> nth=1").locator(".av-left .av-tok").count() == sharp_capture[0].num_tokens
    p.check_clean()
    # An output saved before this fix (the very same fragment twice, same ids) mounts from its own script.
    same = view._fragment + view._fragment
    p = page_of(browser, tmp_path, "same.html", same)
    p.page.wait_for_function("document.querySelectorAll('[data-attnviz-rendered]').length === 2")
    p.page.hover(".attnviz-view >> nth=1 >> .av-left .av-tok >> nth=2")
    assert p.page.locator(".attnviz-view >> nth=1").get_attribute("data-focus") == "q:2"
    assert p.page.locator(".attnviz-view >> nth=0").get_attribute("data-focus") == ""
    p.check_clean()


def contrast(page, selector: str) -> float:
    """WCAG contrast ratio of an element's text colour against the view's background."""
    return page.eval_on_selector(selector, """e => {
        const rgb = s => s.match(/[\\d.]+/g).slice(0, 3).map(Number);
        const lum = c => { const [r, g, b] = c.map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
                           return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
        const root = e.closest('.attnviz-view');
        const a = lum(rgb(getComputedStyle(e).color)), b = lum(rgb(getComputedStyle(root).backgroundColor));
        return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    }""")


def test_dark_theme_follows_jupyterlab_and_is_readable(browser, tmp_path, sharp_capture):
    views = [head_view(sharp_capture), model_view(sharp_capture)]
    body = "".join(v._repr_html_() for v in views)
    p = page_of(browser, tmp_path, "dark.html", body, page_style="body{background:#111;color:#ddd}",
                body_attrs='data-jp-theme-light="false"')
    p.page.wait_for_function("document.querySelectorAll('[data-attnviz-rendered]').length === 2")
    assert p.page.locator(".attnviz-view.av-dark").count() == 2
    for sel in (".av-left .av-tok:not(.av-special)", ".av-left .av-special", ".av-bar label", ".av-side .av-tok"):
        assert contrast(p.page, sel) >= 4.5, sel
    assert p.shot("dark_views.png") > 50
    # JupyterLab switching to its light theme switches the views.
    p.page.evaluate("document.body.setAttribute('data-jp-theme-light', 'true')")
    p.page.wait_for_function("document.querySelectorAll('.attnviz-view.av-dark').length === 0")
    assert contrast(p.page, ".av-left .av-tok:not(.av-special)") >= 4.5
    p.check_clean()
    # A dark page without JupyterLab's marker: the background decides.
    p = page_of(browser, tmp_path, "dark_bg.html", head_view(sharp_capture)._repr_html_(),
                page_style="body{background:#202020}")
    assert p.attr("data-theme") == "dark"
    p.check_clean()


def test_head_view_shows_the_weight_under_the_mouse(open_view, sharp_capture):
    p = open_view(head_view(sharp_capture, heads=[1]), "weights.html")
    p.page.hover(".av-left .av-tok >> nth=3")
    weights = [float(w) for w in p.page.locator(".av-right .av-tok").evaluate_all("ts => ts.map(t => t.dataset.w)")]
    expected = sharp_capture[0].attentions[0, 1, 3]
    np.testing.assert_allclose(weights, expected, atol=expected.max() / 255 + 1e-3)
    best = int(np.argmax(expected))
    assert f"{weights[best]:.3f}" in p.page.inner_text(".av-status")
    assert sharp_capture[0].display_tokens[best] in p.page.inner_text(".av-status")
    p.shot("head_view_weights.png")
    p.check_clean()


@pytest.fixture(scope="module")
def pair_capture(tiny_bert):
    return attnviz.extract(tiny_bert[0], ["the cat sat"], text_pairs=["a dog ran far"], tokenizer=tiny_bert[1])


def test_sentence_pair_filter(open_view, pair_capture):
    ex = pair_capture[0]
    seg = head_view(pair_capture).payload["kinds"][0]["segB"]
    assert ex.display_tokens[seg - 1] == "[SEP]" and seg < len(ex.tokens) - 1
    p = open_view(head_view(pair_capture), "pair.html")
    p.page.select_option("select[name=sentences]", "AB")
    assert p.page.locator(".av-left .av-tok").all_inner_texts() == ex.display_tokens[:seg]
    assert p.page.locator(".av-right .av-tok").all_inner_texts() == ex.display_tokens[seg:]
    p.page.select_option("select[name=sentences]", "BB")
    assert p.page.locator(".av-left .av-tok").all_inner_texts() == ex.display_tokens[seg:]
    p.shot("head_view_pair_BB.png")
    p.check_clean()
    p = open_view(model_view(pair_capture), "pair_model.html")
    p.page.select_option("select[name=sentences]", "BA")
    assert p.page.locator(".av-side .av-tok").all_inner_texts() == ex.display_tokens[seg:]
    p.check_clean()


def test_explorer_view_controls_without_a_kernel(open_view, bert_capture):
    from attnviz.notebook import explorer_view

    p = open_view(explorer_view(bert_capture, cmap="magma"), "explorer.html")
    assert (p.attr("data-example"), p.attr("data-layer"), p.attr("data-head")) == ("0", "0", "0")
    assert p.page.locator(".av-side .av-tok").all_inner_texts() == bert_capture[0].display_tokens
    first = p.canvas("canvas.av-big")
    assert p.shot("explorer_view.png") > 20
    p.page.select_option("select[name=layer]", "1")
    assert p.attr("data-layer") == "1" and p.canvas("canvas.av-big") != first
    p.page.select_option("select[name=head]", "mean")
    assert p.attr("data-head") == "mean" and "mean of the heads" in p.page.inner_text(".av-title")
    p.page.select_option("select[name=example]", "2")
    p.page.wait_for_function("document.querySelector('.attnviz-view').getAttribute('data-example') === '2'")
    assert p.page.locator(".av-side .av-tok").all_inner_texts() == bert_capture[2].display_tokens
    p.page.hover("canvas.av-big")
    assert "key #" in p.page.inner_text(".av-status")
    p.page.select_option("select[name=view]", "grid")
    assert p.page.locator("canvas.av-thumb").count() == bert_capture.num_layers * bert_capture.num_heads
    p.shot("explorer_view_grid.png")
    p.check_clean()


def test_neuron_view_weights_are_the_captured_row(open_view, tiny_bert, bert_capture):
    from attnviz.notebook import neuron_view

    p = open_view(neuron_view(tiny_bert[0], bert_capture, layer=1, head=2), "neuron.html")
    p.page.hover(".av-left .av-tok >> nth=3")
    assert p.attr("data-query") == "3"
    weights = [float(w) for w in p.attr("data-weights").split(",")]
    np.testing.assert_allclose(weights, bert_capture[0].attentions[1, 2, 3], atol=2e-4)
    assert p.shot("neuron_view.png") > 20
    # One colour bar per coloured column, each 0-centred at its largest magnitude.
    bars = p.page.locator(".av-neuron-bars .av-cbar")
    assert [bars.nth(i).get_attribute("data-what") for i in range(3)] == ["query q", "key k", "q \u00d7 k"]
    assert [t.inner_text() for t in bars.nth(0).locator(".av-cbar-tick").all()][1] == "0"
    # The layer and head menus switch the vectors in the page: the weights follow the captured map.
    p.page.select_option("select[name=layer]", "0")
    p.page.select_option("select[name=head]", "1")
    assert (p.attr("data-layer"), p.attr("data-head")) == ("0", "1")
    weights = [float(w) for w in p.attr("data-weights").split(",")]
    np.testing.assert_allclose(weights, bert_capture[0].attentions[0, 1, 3], atol=2e-4)
    p.shot("neuron_view_l0h1.png")
    p.check_clean()


def test_model_view_close_up_as_lines(open_view, sharp_capture):
    p = open_view(model_view(sharp_capture), "model_lines.html")
    p.page.click('canvas.av-thumb[data-layer="1"][data-head="3"]')
    p.page.select_option("select[name=close-up]", "lines")
    sub = p.page.locator(".av-closeup-lines")
    assert int(sub.get_attribute("data-lines")) > 0
    p.page.hover(".av-closeup-lines .av-left .av-tok >> nth=2")
    weights = [float(w) for w in p.page.locator(".av-closeup-lines .av-right .av-tok").evaluate_all(
        "ts => ts.map(t => t.dataset.w)")]
    expected = sharp_capture[0].attentions[1, 3, 2]
    np.testing.assert_allclose(weights, expected, atol=expected.max() / 255 + 1e-3)
    p.shot("model_view_lines.png")
    p.check_clean()


def squared(cap: Capture) -> Capture:
    """A second Capture built from the first: each map squared and renormalised per row."""
    examples = []
    for ex in cap:
        a = np.asarray(ex.attentions) ** 2
        examples.append(Example(tokens=ex.tokens, display_tokens=ex.display_tokens, special_mask=ex.special_mask,
                                attentions=(a / a.sum(-1, keepdims=True)).astype("float32")))
    return Capture(examples, layers=list(cap.layers), heads=list(cap.heads), num_layers=cap.num_layers,
                   num_heads=cap.num_heads)


class AsCapture:
    """Anything with .as_capture() (a relevance result's shape of API)."""

    def __init__(self, cap):
        self.cap = cap

    def as_capture(self):
        return self.cap


def test_values_menu_switches_the_maps(open_view, sharp_capture):
    from attnviz.notebook import explorer_view

    values = {"squared": squared(sharp_capture), "via as_capture": AsCapture(squared(sharp_capture))}
    p = open_view(model_view(sharp_capture, values=values), "values_model.html")
    assert p.page.locator('select[name="values"] option').all_inner_texts() == ["attention", "squared", "via as_capture"]
    assert p.attr("data-values") == "attention"
    p.page.click('canvas.av-thumb[data-layer="1"][data-head="2"]')
    attention = p.canvas("canvas.av-big")
    p.page.select_option('select[name="values"]', "1")
    p.page.wait_for_function("document.querySelector('.attnviz-view').getAttribute('data-values') === 'squared'")
    p.page.click('canvas.av-thumb[data-layer="1"][data-head="2"]')
    assert p.canvas("canvas.av-big") != attention
    # another map's numbers need not be weights in 0..1: it starts on the per-map scale
    assert p.page.locator(".av-values-view select[name='scale']").input_value() == "map"
    p.shot("values_model_view.png")
    p.check_clean()

    p = open_view(explorer_view(sharp_capture, values=values, layer=1, head=3, scale="sqrt"), "values_explorer.html")
    p.page.select_option('select[name="values"]', "2")
    p.page.wait_for_function("document.querySelector('.attnviz-view').getAttribute('data-values') === 'via as_capture'")
    view = p.page.locator(".av-values-view")
    assert (view.get_attribute("data-layer"), view.get_attribute("data-head")) == ("1", "3")  # the selection stays
    assert view.locator("select[name='scale']").first.input_value() == "map"
    p.page.select_option('select[name="values"]', "0")
    p.page.wait_for_function("document.querySelector('.attnviz-view').getAttribute('data-values') === 'attention'")
    assert view.locator("select[name='scale']").first.input_value() == "sqrt"  # attention: the view's own scale
    p.shot("values_explorer_view.png")
    p.check_clean()

    p = open_view(head_view(sharp_capture, values=values), "values_head.html")
    p.page.select_option('select[name="values"]', "1")
    p.page.wait_for_function("document.querySelector('.attnviz-view').getAttribute('data-values') === 'squared'")
    assert p.page.locator(".av-values-view canvas.av-lines").count() == 1
    p.check_clean()


def test_explorer_grid_keeps_the_chosen_layer_and_head(open_view):
    """After layer 4, head 7 and "every layer x head", the close-up stays at layer 4, head 7."""
    from attnviz.notebook import explorer_view

    rng = np.random.default_rng(1)
    maps = rng.dirichlet(np.full(6, 0.3), size=(6, 8, 6)).astype("float32")
    cap = Capture([Example(tokens=list("abcdef"), attentions=maps)], layers=list(range(6)), heads=list(range(8)),
                  num_layers=6, num_heads=8)
    p = open_view(explorer_view(cap), "explorer_grid_keep.html")
    p.page.select_option("select[name=layer]", "4")
    p.page.select_option("select[name=head]", "7")
    p.page.select_option("select[name=view]", "grid")
    assert p.page.locator(".av-explorer-grid").get_attribute("data-selected") == "4,7"
    assert "layer 4, head 7" in p.page.inner_text(".av-detail .av-title")
    p.page.click('canvas.av-thumb[data-layer="2"][data-head="5"]')  # and a thumbnail chooses them
    assert (p.attr("data-layer"), p.attr("data-head")) == ("2", "5")
    p.page.select_option("select[name=view]", "head")
    assert "layer 2, head 5" in p.page.inner_text(".av-title")
    p.check_clean()


def test_close_up_title_sits_on_its_map(open_view, sharp_capture):
    """The column labels' strip is as tall as its longest label: no empty band under the title."""
    p = open_view(model_view(sharp_capture), "model_gap.html")
    gap = p.page.evaluate("() => document.querySelector('canvas.av-big').getBoundingClientRect().top"
                          " - document.querySelector('.av-detail .av-title').getBoundingClientRect().bottom")
    longest = p.page.evaluate("() => Math.max(...[...document.querySelectorAll('.av-top .av-tok')]"
                              ".map(t => t.getBoundingClientRect().height))")
    assert gap <= longest + 16
    p.check_clean()
