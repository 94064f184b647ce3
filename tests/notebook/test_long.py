"""Long inputs in the views: rows kept with queries=, the sparse (top-k) payload, and the long-input page.

The browser test builds the two goal cases of issue #24 (8,192 tokens with every layer's last
row; 2,048 tokens with one layer's full maps, made dense enough that the top-k payload is
needed) and checks the page size bound and that every control works. Times are measured by
benchmarks/bench_html.py, not asserted here.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from attnviz.capture import Capture, Example
from attnviz.notebook import explorer_view, model_view
from attnviz.notebook.html import LONG_MB, long_mode
from attnviz.notebook.payload import decode_maps, encode_kind, select_kinds, sparse_rows
from tests.notebook.test_browser import CHROMIUM, SHOTS, Page, browser  # noqa: F401 (fixture)


def synthetic(n: int, layers: int, heads: int = 12, rows: list[int] | None = None, power: float = 4.0,
              seed: int = 0, sink: float = 0.5) -> Capture:
    """Random peaked attention with a sink on token 0; only ``rows`` kept when given (as queries=)."""
    rng = np.random.default_rng(seed)
    nq = n if rows is None else len(rows)
    a = rng.random((layers, heads, nq, n), dtype=np.float32) ** power
    a[..., 0] += a.sum(-1) * sink
    a /= a.sum(-1, keepdims=True)
    ex = Example(tokens=[f"t{i}" for i in range(n)], special_mask=[i == 0 for i in range(n)], attentions=a,
                 query_positions=rows)
    return Capture([ex], layers=list(range(layers)), heads=list(range(heads)), num_layers=layers, num_heads=heads)


def test_sparse_rows_keep_the_strongest_keys_exactly():
    cap = synthetic(300, 1, heads=2)
    kind = select_kinds(cap)[0]
    dense, sparse = decode_maps(encode_kind(kind)), decode_maps(encode_kind(kind, top_k=20))
    # The 20 largest weights of every row are kept as they were (ties in the uint8 steps aside, which ones).
    np.testing.assert_array_equal(-np.sort(-sparse, -1)[..., :20], -np.sort(-dense, -1)[..., :20])
    kept = sparse > 0
    np.testing.assert_array_equal(sparse[kept], dense[kept])
    assert ((sparse > 0).sum(-1) <= 20).all()
    _, _, dropped = sparse_rows(np.array([[[[100, 100, 50, 0]]]], dtype=np.uint8), 2)
    assert dropped[0, 0] == pytest.approx(0.2)


def test_sparse_rows_on_the_square_root_scale_decode_as_the_dense_ones():
    """A long page cut to its top keys keeps its square-root scale: the page (and decode_maps)
    must know the bytes are on it."""
    kind = select_kinds(synthetic(300, 1, heads=2))[0]
    dense, entry = decode_maps(encode_kind(kind, gamma=2)), encode_kind(kind, top_k=20, gamma=2)
    assert entry["gamma"] == 2 and entry["sparse"] == 20
    sparse = decode_maps(entry)
    np.testing.assert_allclose(sparse[sparse > 0], dense[sparse > 0], rtol=1e-6)


def test_rows_kept_with_queries_display_as_captured():
    cap = synthetic(600, 2, heads=3, rows=[598, 599])
    view = model_view(cap)
    entry = view.payload["kinds"][0]
    assert entry["q"] == ["t598", "t599"] and entry["qPos"] == [598, 599] and len(entry["k"]) == 600
    assert view.payload["long"] == {"pool": "max", "sinks": True, "window": 128}  # automatic past 512 keys
    assert "long" not in model_view(synthetic(40, 1, heads=2)).payload
    assert model_view(cap, long=False).payload.get("long") is None
    with pytest.raises(ValueError, match="pool"):
        model_view(cap, pool="median")


def test_top_k_is_chosen_to_fit_the_page():
    kinds = select_kinds(synthetic(2048, 1, heads=4, power=1.0, sink=0.0))
    opts, top_k = long_mode(kinds, None, "mean", False, None, 0.3)
    assert opts == {"pool": "mean", "sinks": False, "window": 128} and 1 <= top_k < 2048
    view = model_view(synthetic(2048, 1, heads=4, power=1.0, sink=0.0), max_mb=0.3)
    assert view.payload["kinds"][0]["sparse"] == top_k and view.nbytes <= 0.3e6 * 1.05


@pytest.mark.browser
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_goal_pages_are_small_and_every_control_works(browser, tmp_path):  # noqa: F811
    last_rows = synthetic(8192, 6, rows=[8191], sink=0.02)
    full = synthetic(2048, 1, power=1.5, sink=0.02)
    pages = {"long_last_rows_model": model_view(last_rows), "long_last_rows_explorer": explorer_view(last_rows),
             "long_full_model": model_view(full), "long_full_explorer": explorer_view(full, sinks=False)}
    assert pages["long_full_model"].payload["kinds"][0].get("sparse")  # needed here to fit
    for name, view in pages.items():
        assert view.nbytes <= 5e6, name
        assert view.nbytes <= LONG_MB * 1e6 * 1.05, name
        p = Page(browser, view.save(tmp_path / f"{name}.html"))
        root = p.page.locator(".attnviz-view")
        assert root.get_attribute("data-long") == "max"
        entry = view.payload["kinds"][0] if "kinds" in view.payload else view.payload["examples"][0]["kinds"][0]
        note = p.page.locator(".av-long-note").inner_text()
        assert "max pooling" in note and ("strongest keys" in note) == bool(entry.get("sparse"))
        assert bool(entry.get("sparse")) == ("full" in name)
        overview = p.canvas("canvas.av-overview")
        window = root.get_attribute("data-window")
        box = p.page.locator("canvas.av-overview").bounding_box()
        p.page.locator("canvas.av-overview").click(position={"x": box["width"] * 0.6, "y": box["height"] * 0.6})
        assert root.get_attribute("data-window") != window
        big = p.canvas("canvas.av-big")
        p.page.select_option('select[name="scale"]', "linear")
        assert p.canvas("canvas.av-overview") != overview and p.canvas("canvas.av-big") != big
        p.page.select_option('select[name="scale"]', "map")
        before = p.canvas("canvas.av-overview")
        p.page.get_by_label("first key in the colour scale").first.click()
        assert p.canvas("canvas.av-overview") != before
        if "explorer" in name:
            p.page.select_option('select[name="head"]', "mean")
            p.page.select_option('select[name="view"]', "grid")
            assert p.page.locator("canvas.av-thumb").count() == 6 * 12 if "last" in name else 12
        else:
            p.page.click('canvas.av-thumb[data-layer="0"][data-head="5"]')
            assert root.get_attribute("data-selected") == "0,5"
        p.shot(f"{name}.png")
        p.check_clean()


def test_long_maps_keep_the_weights_beside_a_sink():
    """Square-root steps: with a sink taking ~1/3 of every row, the other 8,191 weights still decode."""
    cap = synthetic(8192, 1, heads=2, rows=[8191], power=1.0, sink=0.5)
    entry = model_view(cap).payload["kinds"][0]
    assert entry["gamma"] == 2
    got, want = decode_maps(entry)[..., 1:], np.asarray(cap[0].attentions)[..., 1:]
    assert (got > 0).mean() > 0.95
    np.testing.assert_allclose(got.sum(-1), want.sum(-1), rtol=0.1)
    dense = encode_kind(select_kinds(cap)[0])  # the short-input encoding loses them
    assert (decode_maps(dense)[..., 1:] > 0).mean() < 0.05
