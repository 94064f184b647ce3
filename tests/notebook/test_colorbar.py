"""The colour bars of the HTML views in headless Chromium, read as a user reads them.

A bar sits under every map drawn from the colour table (explorer, model view: thumbnails and
the enlarged map); the head view has the same key for its line opacity. Its ticks are in
attention-weight units for the chosen scale, its ends are the colour table's ends, it follows
the scale, head, layer and example menus and it stays readable and clear of the maps in the
light and the dark theme. Screenshots: /tmp/notebook_shots/colorbar_*.png.
"""
from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from attnviz.capture import Capture, Example
from attnviz.notebook import explorer_view, head_view, model_view
from attnviz.notebook.html import colour_table
from tests.notebook.test_browser import SHOTS, Page, browser, contrast  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

LINEAR = (["0", "0.25", "0.5", "0.75", "1"], [0, 0.25, 0.5, 0.75, 1])
SQRT = (["0", "0.02", "0.1", "0.25", "0.5", "1"], np.sqrt([0, 0.02, 0.1, 0.25, 0.5, 1]))

BAR = """b => {
    const strip = b.querySelector('.av-cbar-strip'), sr = strip.getBoundingClientRect();
    const ticks = [...b.querySelectorAll('.av-cbar-tick')];
    /* Where each tick mark is on screen, as a fraction of the strip inside its 1px border. */
    const at = ticks.map(t => {
        const r = t.getBoundingClientRect();
        const x = t.classList.contains('av-first') ? r.left : t.classList.contains('av-last') ? r.right : (r.left + r.right) / 2;
        return (x - sr.left - 1) / (sr.width - 2);
    });
    const rect = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    return {scale: b.dataset.scale, max: b.dataset.max === undefined ? null : b.dataset.max, ramp: b.dataset.ramp,
            labels: ticks.map(t => t.textContent), pos: ticks.map(t => +t.dataset.pos), at,
            caption: b.querySelector('.av-cbar-caption').textContent, box: rect(b),
            png: strip.tagName === 'CANVAS' ? strip.toDataURL() : null,
            tickBoxes: ticks.map(rect)};
}"""


def bar(page, selector: str) -> dict:
    """What a bar shows; "ends": the colours of its first and last pixel column (a lut bar)."""
    from PIL import Image

    assert page.locator(selector).count() == 1, selector
    b = page.eval_on_selector(selector, BAR)
    b["ends"] = None
    if b["png"]:
        with Image.open(io.BytesIO(base64.b64decode(b["png"].split(",", 1)[1]))) as img:
            rgb = img.convert("RGB")
            b["ends"] = [list(rgb.getpixel((x, rgb.height // 2))) for x in (0, rgb.width - 1)]
    return b


def lut_ends(cmap=None) -> list[list[int]]:
    lut = np.frombuffer(base64.b64decode(colour_table(cmap)), np.uint8).reshape(256, 3)
    return [lut[0].tolist(), lut[-1].tolist()]


def fmt(v: float) -> str:
    """The bar's label of a weight: two significant digits, as JavaScript's toPrecision(2)."""
    return f"{float(f'{v:.2g}'):g}"


def check_ticks(b: dict, expected: tuple[list[str], list[float]]) -> None:
    labels, pos = expected
    assert b["labels"] == labels
    np.testing.assert_allclose(b["pos"], pos, atol=1e-6)
    np.testing.assert_allclose(b["at"], pos, atol=0.02)  # drawn where they say (the sqrt ones non-linearly)


def check_max(b: dict, peak: float, atol: float = 0.0) -> None:
    """A "map" bar: 0 to the shown map's maximum, nice ticks between, none past it.

    One head's maximum travels exactly (it is the map's quantisation scale); a mean of
    quantised heads is within atol of the mean of the captured ones.
    """
    assert b["scale"] == "map" and float(b["max"]) == pytest.approx(peak, rel=1e-4, abs=float(atol))
    assert b["labels"][0] == "0" and b["labels"][-1] == fmt(float(b["max"])) and b["pos"][-1] == 1
    values = [float(v) for v in b["labels"][1:-1]]
    np.testing.assert_allclose(b["pos"][1:-1], np.array(values) / float(b["max"]), atol=1e-6)
    np.testing.assert_allclose(b["at"], b["pos"], atol=0.02)
    assert all(0 < p < 0.75 for p in b["pos"][1:-1]) and "this map's maximum" in b["caption"]


def overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def rects(page, selector: str) -> list[list[float]]:
    return page.eval_on_selector_all(selector, """es => es.map(e => {
        const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")


def check_layout(page, b: dict, maps: str) -> None:
    """The bar overlaps no map, no control, no status line; its labels do not touch each other."""
    for other in rects(page, maps) + rects(page, ".av-status") + rects(page, ".av-bar"):
        assert not overlap(b["box"], other), (b["box"], other)
    for left, right in zip(b["tickBoxes"][:-1], b["tickBoxes"][1:], strict=True):
        assert left[2] + 4 <= right[0], (b["labels"], b["tickBoxes"])  # a clear gap between labels
    for sel in (".av-cbar-tick", ".av-cbar-caption"):
        assert contrast(page, sel) >= 4.5, sel


@pytest.fixture(scope="module")
def sharp2(bert_capture):
    """Two examples of the tiny BERT with peaked random attention (its own is near uniform)."""
    rng = np.random.default_rng(1)
    examples = []
    for i in (0, 2):
        ex = bert_capture[i]
        n = ex.num_tokens
        examples.append(Example(tokens=ex.tokens, display_tokens=ex.display_tokens, special_mask=ex.special_mask,
                                text=ex.text, attentions=rng.dirichlet(np.full(n, 0.3), size=(2, 4, n)).astype("float32")))
    return Capture(examples, layers=[0, 1], heads=[0, 1, 2, 3], num_layers=2, num_heads=4)


@pytest.fixture
def open_view(browser, tmp_path):  # noqa: F811 (the fixture above)
    def _open(view, name: str) -> Page:
        return Page(browser, view.save(tmp_path / name))
    return _open


DETAIL = ".av-explorer-body > .av-title ~ .av-frame .av-cbar"


def test_explorer_bar_follows_scale_head_layer_and_example(open_view, sharp2):
    a = [ex.attentions for ex in sharp2]
    p = open_view(explorer_view(sharp2, cmap="magma", theme="light"), "cbar_explorer.html")
    b = bar(p.page, DETAIL)
    check_max(b, a[0][0, 0].max())
    assert b["ramp"] == "lut" and b["ends"] == lut_ends("magma")
    check_layout(p.page, b, "canvas.av-big")
    assert p.shot("colorbar_explorer_light.png") > 50

    p.page.select_option("select[name=layer]", "1")
    check_max(bar(p.page, DETAIL), a[0][1, 0].max())
    p.page.select_option("select[name=head]", "2")
    check_max(bar(p.page, DETAIL), a[0][1, 2].max())
    p.page.select_option("select[name=head]", "mean")
    check_max(bar(p.page, DETAIL), a[0][1].mean(0).max(), atol=a[0][1].max() / 255)
    p.page.select_option("select[name=example]", "1")
    p.page.wait_for_function("document.querySelector('.attnviz-view').getAttribute('data-example') === '1'")
    check_max(bar(p.page, DETAIL), a[1][1].mean(0).max(), atol=a[1][1].max() / 255)

    # Without the special tokens the map (and its maximum) is the rest.
    p.page.check("text=hide special tokens")
    keep = ~np.asarray(sharp2[1].special_mask, bool)
    check_max(bar(p.page, DETAIL), a[1][1].mean(0)[keep][:, keep].max(), atol=a[1][1].max() / 255)
    p.page.uncheck("text=hide special tokens")

    p.page.select_option("select[name=scale]", "linear")
    b = bar(p.page, DETAIL)
    check_ticks(b, LINEAR)
    assert b["scale"] == "linear" and b["max"] is None and b["caption"] == "colour: attention weight"
    p.page.select_option("select[name=scale]", "sqrt")
    b = bar(p.page, DETAIL)
    check_ticks(b, SQRT)
    assert b["scale"] == "sqrt" and "square-root" in b["caption"] and b["ends"] == lut_ends("magma")
    check_layout(p.page, b, "canvas.av-big")
    p.check_clean()


def test_explorer_grid_bar_says_per_map(open_view, sharp2):
    a = sharp2[0].attentions
    p = open_view(explorer_view(sharp2, view="grid", theme="dark"), "cbar_grid.html")
    thumbs = bar(p.page, ".av-thumbs .av-cbar")
    assert thumbs["max"] == "per map" and thumbs["labels"] == ["0", "per-map max"]
    assert "each map's own maximum" in thumbs["caption"] and thumbs["ends"] == lut_ends()
    check_max(bar(p.page, ".av-detail .av-cbar"), a[0, 0].max())
    check_layout(p.page, thumbs, "canvas.av-thumb, canvas.av-big")
    assert p.shot("colorbar_explorer_grid_dark.png") > 50
    p.page.select_option("select[name=scale] >> nth=0", "sqrt")  # the explorer's own menu redraws the grid
    check_ticks(bar(p.page, ".av-thumbs .av-cbar"), SQRT)
    p.page.select_option("select[name=view]", "head")
    b = bar(p.page, DETAIL)
    check_ticks(b, SQRT)
    check_layout(p.page, b, "canvas.av-big")
    assert p.shot("colorbar_explorer_dark.png") > 50
    p.check_clean()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_model_view_bars(open_view, sharp2, theme):
    a = sharp2[0].attentions
    p = open_view(model_view(sharp2, theme=theme), f"cbar_model_{theme}.html")
    assert p.attr("data-theme") == theme
    thumbs, detail = bar(p.page, ".av-thumbs .av-cbar"), bar(p.page, ".av-detail .av-cbar")
    for b in (thumbs, detail):  # model_view starts on "sqrt"
        check_ticks(b, SQRT)
        assert b["ends"] == lut_ends()
    check_layout(p.page, thumbs, "canvas.av-thumb, canvas.av-big, .av-detail")
    check_layout(p.page, detail, "canvas.av-thumb, canvas.av-big, .av-grid")
    assert p.shot(f"colorbar_model_{theme}.png") > 50

    p.page.select_option("select[name=scale]", "map")
    assert bar(p.page, ".av-thumbs .av-cbar")["labels"] == ["0", "per-map max"]
    check_max(bar(p.page, ".av-detail .av-cbar"), a[0, 0].max())
    p.page.click('canvas.av-thumb[data-layer="1"][data-head="2"]')
    check_max(bar(p.page, ".av-detail .av-cbar"), a[1, 2].max())
    p.page.select_option("select[name=scale]", "linear")
    for sel in (".av-thumbs .av-cbar", ".av-detail .av-cbar"):
        check_ticks(bar(p.page, sel), LINEAR)
    # The close-up as lines: the thumbnails keep their bar, the lines get the opacity key.
    p.page.select_option("select[name=close-up]", "lines")
    assert bar(p.page, ".av-closeup-lines .av-cbar")["ramp"] == "alpha"
    assert p.page.locator(".av-thumbs .av-cbar").count() == 1
    p.check_clean()


def test_head_view_opacity_key(open_view, sharp2):
    a = sharp2[0].attentions
    p = open_view(head_view(sharp2, scale="map"), "cbar_head.html")
    key = bar(p.page, ".av-cbar")
    assert key["ramp"] == "alpha" and key["max"] == "per head" and key["labels"] == ["0", "per-head max"]
    assert key["caption"] == "line opacity: attention weight, 0 to each head's own maximum"
    p.page.dblclick(".av-head-btn >> nth=1")  # one head: its own maximum
    key = bar(p.page, ".av-cbar")
    assert float(key["max"]) == pytest.approx(a[0, 1].max(), rel=1e-4) and key["labels"][-1] == fmt(a[0, 1].max())
    assert "this head's maximum" in key["caption"]
    # Hovering redraws the lines, not the key.
    p.page.evaluate("document.querySelector('.av-cbar').dataset.mark = 'kept'")
    p.page.hover(".av-left .av-tok >> nth=2")
    assert p.page.get_attribute(".av-cbar", "data-mark") == "kept"
    p.page.select_option("select[name=scale]", "sqrt")
    check_ticks(bar(p.page, ".av-cbar"), SQRT)
    p.page.select_option("select[name=layer]", "1")
    p.page.select_option("select[name=scale]", "map")
    assert float(bar(p.page, ".av-cbar")["max"]) == pytest.approx(a[1, 1].max(), rel=1e-4)
    check_layout(p.page, bar(p.page, ".av-cbar"), "canvas.av-lines, .av-col")
    p.check_clean()
