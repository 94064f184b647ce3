"""image_view: the payload equals the maps; in headless Chromium (network blocked) hovering a patch shows its map."""
from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pytest

import attnviz
from attnviz.notebook import ImageView, image_view
from attnviz.testing import tiny_model

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path("/tmp/notebook_shots")
RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def capture():
    model, processor = tiny_model("deit")
    image = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    image[8:24, 8:24] = (250, 200, 30)  # a yellow square, to see in the screenshot
    return attnviz.extract(model, [image], processor=processor)


def decoded(view: ImageView) -> np.ndarray:
    p = view.payload
    shape = (len(p["layers"]), len(p["heads"]), len(p["queries"]), p["grid"][0] * p["grid"][1])
    levels = np.frombuffer(base64.b64decode(p["maps"]), np.uint8).reshape(shape) / 255.0
    return levels * np.asarray(p["rowMax"]).reshape(shape[:3])[..., None]


def test_payload_is_every_query_map_over_the_patches(capture):
    ex = capture[0]
    view = image_view(capture, layers=[1], heads=[0, 3])
    p = view.payload
    assert p["heads"] == [0, 3, "mean"] and p["layers"] == [1] and p["grid"] == [4, 4]
    assert p["specials"] == [[0, "[CLS]"], [1, "[DIST]"]] and p["initialQuery"] == 0
    maps = decoded(view)
    patches = ex.attentions[1][:, :, ex.patch_positions]
    np.testing.assert_allclose(maps[0, 0], patches[0], atol=patches.max() / 255)
    np.testing.assert_allclose(maps[0, 2], ex.attentions[1][[0, 3]].mean(0)[:, ex.patch_positions],
                               atol=patches.max() / 255)
    assert p["image"].startswith("data:image/png;base64,")
    page = str(view)
    assert page.startswith("<!DOCTYPE html>") and "http" not in page and "<script src" not in page
    assert view._repr_html_().count("attnvizViews.image.mount") == 1


def test_queries_subset_and_bad_input(capture, bert_capture, tmp_path):
    model, processor = tiny_model("deit")
    some = attnviz.extract(model, [np.zeros((32, 32, 3), np.uint8)], processor=processor, queries=[0, 2, 3])
    view = image_view(some, mean=False)
    assert view.payload["queries"] == [0, 2, 3] and view.payload["specials"] == [[0, "[CLS]"]]
    assert view.save(tmp_path / "v.html").read_text(encoding="utf-8") == str(view)
    with pytest.raises(ValueError, match="no image patches"):
        image_view(bert_capture)
    with pytest.raises(ValueError, match="opacity"):
        image_view(capture, alpha=1.5)


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_hovering_a_patch_shows_its_attention(capture, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    ex = capture[0]
    path = image_view(capture).save(tmp_path / "image.html")
    requests: list[str] = []
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 900, "height": 700})
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:"))
                      else (requests.append(r.request.url), r.abort()))
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(path.as_uri())
        page.wait_for_selector("[data-attnviz-rendered]", state="attached", timeout=20_000)
        overlay = "canvas.av-img-overlay"
        first = page.eval_on_selector(overlay, "c => c.toDataURL()")
        assert page.get_attribute(".attnviz-view", "data-query") == "0"  # [CLS] first
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "image_view_cls.png"), full_page=True)
        box = page.locator("canvas.av-img-frame").bounding_box()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.1)  # patch (0, 2)
        assert page.get_attribute(".attnviz-view", "data-query") == str(int(ex.patch_positions[2]))
        hovered = page.eval_on_selector(overlay, "c => c.toDataURL()")
        assert hovered != first
        # the overlay's 4 x 4 pixels are the colours of the query's map (scaled to its maximum)
        pixels = page.eval_on_selector(overlay, "c => Array.from(c.getContext('2d').getImageData(0, 0, 4, 4).data)")
        red = np.asarray(pixels).reshape(4, 4, 4)[..., 0]
        row = ex.attentions[1, :, int(ex.patch_positions[2])].mean(0)[ex.patch_positions].reshape(4, 4)
        import matplotlib

        expected = np.rint(np.asarray(matplotlib.colormaps["viridis"](np.linspace(0, 1, 256)))[:, 0] * 255)
        assert np.abs(red - expected[np.rint(row / row.max() * 255).astype(int)]).max() <= 1
        page.screenshot(path=str(SHOTS / "image_view_hover.png"), full_page=True)
        page.select_option("select.av-img-layer", "0")
        assert page.eval_on_selector(overlay, "c => c.toDataURL()") != hovered
        page.click("button.av-img-special >> nth=1")  # [DIST], pinned
        assert page.get_attribute(".attnviz-view", "data-query") == "1"
        page.mouse.move(box["x"] + 5, box["y"] + 5)
        assert page.get_attribute(".attnviz-view", "data-query") == "1"
        assert "[DIST]" in page.inner_text(".av-img-info")
        context.close()
        browser.close()
    assert errors == [] and requests == []
