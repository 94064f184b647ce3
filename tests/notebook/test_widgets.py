"""The explorer widget: setting its controls changes what it shows."""
from __future__ import annotations

import io
import sys

import numpy as np
import pytest

from attnviz.capture import Capture, Example
from attnviz.notebook import explorer

widgets = pytest.importorskip("ipywidgets")


def png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        return img.size


def test_controls_redraw_the_figure(bert_capture):
    ex = explorer(bert_capture)
    assert isinstance(ex, widgets.VBox)
    assert set(ex.controls) == {"example", "kind", "view", "scale", "layer", "head", "hide_special"}
    assert ex.rendered == 1 and ex.image[:4] == b"\x89PNG" and ex.error is None
    assert "layer 0, head 0" in ex.title
    seen = {ex.image}

    steps = [("layer", 1, "layer 1, head 0"), ("head", "mean", "layer 1, mean of the heads"),
             ("head", 3, "layer 1, head 3"), ("scale", "row", "layer 1, head 3"),
             ("hide_special", True, "layer 1, head 3"), ("example", 2, "example 2: layer 1, head 3")]
    for count, (name, value, title) in enumerate(steps, start=2):
        ex.controls[name].value = value
        assert ex.rendered == count, name
        assert title in ex.title
        assert ex.image not in seen, f"changing {name} did not change the figure"
        seen.add(ex.image)


def test_views_grid_and_norms(bert_capture):
    ex = explorer(bert_capture)
    one = ex.image
    ex.controls["view"].value = "grid"
    assert ex.controls["layer"].disabled and ex.controls["head"].disabled
    assert "every layer x head" in ex.title and ex.image != one
    ex.controls["view"].value = "norms"
    assert "hidden-state norms" in ex.title and ex.image[:4] == b"\x89PNG"
    ex.controls["view"].value = "head"
    assert not ex.controls["layer"].disabled and ex.image == one


def test_seq2seq_kind_control(t5_capture, monkeypatch):
    from attnviz import plot

    drawn, real = [], plot.token_heatmap

    def spy(*args, **kwargs):
        ax = real(*args, **kwargs)
        drawn.append((kwargs["kind"], np.asarray(ax.images[0].get_array())))
        return ax

    monkeypatch.setattr(plot, "token_heatmap", spy)
    ex = explorer(t5_capture)
    kind = ex.controls["kind"]
    assert [v for _, v in kind.options] == ["encoder", "decoder", "cross"] and kind.layout.display is None
    kind.value = "cross"
    assert "cross attention" in ex.title and ex.image[:4] == b"\x89PNG" and ex.error is None
    # the picture drawn is the cross-attention map: decoder tokens x encoder tokens, its values
    assert drawn[-1][0] == "cross"
    np.testing.assert_allclose(drawn[-1][1], t5_capture[0].cross_attentions[0, 0], atol=1e-6)


def test_missing_hidden_states_shows_a_message(bert_capture):
    e = bert_capture[0]
    cap = Capture([Example(tokens=e.tokens, attentions=e.attentions)], layers=bert_capture.layers,
                  heads=bert_capture.heads)
    ex = explorer(cap, view="norms")
    assert ex.error and "cannot draw" in ex.title and ex.image == b""


def test_bad_input_and_missing_ipywidgets(bert_capture, monkeypatch):
    with pytest.raises(TypeError, match="attnviz.extract"):
        explorer("not a capture")
    with pytest.raises(ValueError, match="unknown view"):
        explorer(bert_capture, view="table")
    with pytest.raises(IndexError, match="out of range"):
        explorer(bert_capture, example=7)
    with pytest.raises(ValueError, match="no attention maps"):
        explorer(Capture([Example(tokens=["a"])]))
    from attnviz.notebook import widgets as module

    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    module._explorer_class.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install 'attnviz\[notebook\]'"):
            explorer(bert_capture)
    finally:
        monkeypatch.undo()
        module._explorer_class.cache_clear()


def test_saved_output_keeps_the_last_picture(bert_capture, monkeypatch):
    """Displayed, the explorer adds a plain picture output that every redraw replaces (update_display)."""
    import base64

    import IPython.display

    shown, updated = [], []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    monkeypatch.setattr(IPython.display, "update_display", lambda obj, **kw: updated.append((obj, kw)))
    ex = explorer(bert_capture, cmap="magma")
    assert ex._image not in ex.children  # the picture lives in the output, not in the widget
    ex._ipython_display_()
    (widget, _), (picture, kw) = shown
    assert "application/vnd.jupyter.widget-view+json" in widget and kw["raw"] and kw["display_id"]
    assert base64.b64decode(picture["image/png"]) == ex.image and "layer 0, head 0" in picture["text/html"]
    ex.controls["layer"].value = 1
    (last, ukw), = updated
    assert ukw["display_id"] == kw["display_id"]
    assert base64.b64decode(last["image/png"]) == ex.image and "layer 1, head 0" in last["text/html"]
    inside = explorer(bert_capture, snapshot=False)
    assert inside._image in inside.children


def test_one_default_colour_map(bert_capture):
    from matplotlib import colormaps

    from attnviz.notebook.html import colour_table
    from attnviz.plot.theme import SEQUENTIAL

    assert colour_table() == colour_table(SEQUENTIAL) != colour_table("magma")
    assert explorer(bert_capture).image != explorer(bert_capture, cmap="magma").image
    assert colormaps[SEQUENTIAL].name == "viridis"
