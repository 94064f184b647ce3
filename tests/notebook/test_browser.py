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
    assert shown == [t for t, s in zip(ex.display_tokens, ex.special_mask) if not s]
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
    cap = attnviz.extract_generation(*tiny_gpt2, "the cat sat on", max_new_tokens=4)
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
