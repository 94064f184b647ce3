"""attnviz.plot.compare: the image data equal the comparison's numbers; labels and colour scales."""
from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.plot.compare import CompareFigure, change_map, head_difference, layer_lines
from attnviz.testing import tiny_model


@pytest.fixture(scope="module")
def comp():
    texts = ["the cat sat on the mat", "a dog"]
    (m0, t0), (m1, t1) = tiny_model("bert", seed=0), tiny_model("bert", seed=1)
    a = attnviz.extract(m0, texts, tokenizer=t0)
    b = attnviz.extract(m1, texts, tokenizer=t1)
    return attnviz.compare(a, b)


def test_change_map_shows_one_minus_cosine(comp):
    ax = change_map(comp)
    np.testing.assert_allclose(ax.images[0].get_array(), 1 - comp.cosine, rtol=1e-6)
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(h) for h in comp.heads]
    assert ax.get_ylabel() == "layer"


def test_entropy_change_map_is_centred_at_zero(comp):
    ax = change_map(comp, metric="entropy_change")
    norm = ax.images[0].norm
    assert norm.vmin == pytest.approx(-norm.vmax)
    np.testing.assert_allclose(ax.images[0].get_array(), comp.entropy_change, rtol=1e-6)


def test_layer_lines_plot_the_layer_means(comp):
    ax = layer_lines(comp)
    attention, hidden = ax.lines[0], ax.lines[1]
    np.testing.assert_allclose(attention.get_ydata(), comp.layer_cosine)
    np.testing.assert_allclose(hidden.get_ydata(), comp.hidden_cosine[1:])
    assert list(attention.get_xdata()) == comp.layers


def test_head_difference_panels(comp):
    fig = head_difference(comp, layer=1, head=2, example=0)
    before, after, diff = (ax.images[0].get_array() for ax in fig.axes)
    a = comp.before[0].attentions[1, 2]
    b = comp.after[0].attentions[1, 2]
    np.testing.assert_allclose(before, a, rtol=1e-6)
    np.testing.assert_allclose(after, b, rtol=1e-6)
    np.testing.assert_allclose(diff, b - a, atol=1e-6)
    norm = fig.axes[2].images[0].norm
    assert norm.vmin == pytest.approx(-norm.vmax) and norm.vmax == pytest.approx(np.abs(b - a).max(), rel=1e-5)
    assert fig.axes[0].images[0].norm.vmax == fig.axes[1].images[0].norm.vmax  # shared scale
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == comp.before[0].display_tokens
    assert fig.axes[2].images[0].get_cmap().name == "RdBu_r"


def test_plot_dispatch_returns_figure_objects(comp, tmp_path):
    for kind in ("map", "layers", "head"):
        view = comp.plot(kind)
        assert isinstance(view, CompareFigure) and view.axes
        assert view._repr_png_()[:4] == b"\x89PNG"
    top = comp.top(1)[0]
    assert comp.plot("head").figure._suptitle.get_text().startswith(f"layer {top['layer']}, head {top['head']}")
    path = comp.plot("map", metric="js").savefig(tmp_path / "js.pdf")
    assert path.read_bytes()[:4] == b"%PDF"
