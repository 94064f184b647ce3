"""head_grid: cell data, axes shape, labels, one colour bar, subsets, scales, speed-related layout."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest
from matplotlib.patches import Rectangle

from attnviz.capture import Capture, Example
from attnviz.plot import HeadGrid, head_grid


def synthetic(layers=3, heads=4, n=5, **example):
    rng = np.random.default_rng(0)
    att = rng.dirichlet(np.ones(n), size=(layers, heads, n)).astype("float32")
    ex = Example(tokens=[f"w{i}" for i in range(n)], attentions=att, **example)
    return Capture([ex], layers=list(range(layers)), heads=list(range(heads)), num_layers=layers, num_heads=heads)


def _colorbars(fig):
    return [a for a in fig.axes if hasattr(a, "_colorbar")]


def test_every_cell_shows_its_attention_map(bert_capture):
    ex = bert_capture[2]
    grid = head_grid(bert_capture, example=2)
    assert isinstance(grid, HeadGrid)
    assert grid.layers == [0, 1] and grid.heads == [0, 1, 2, 3]
    for layer in grid.layers:
        for head in grid.heads:
            np.testing.assert_allclose(grid.matrix(layer, head), ex.attentions[layer, head])


def test_axes_array_shape_and_cell_coordinates(bert_capture):
    grid = head_grid(bert_capture)
    n = bert_capture[0].num_tokens
    assert grid.axes.shape == (2, 4)
    cell = grid.axes[1, 2]
    assert tuple(cell.get_xlim()) == (-0.5, n - 0.5) and tuple(cell.get_ylim()) == (n - 0.5, -0.5)
    cell.add_patch(Rectangle((0.5, 0.5), 1, 1, fill=False))  # marking a token pair works
    assert len(cell.patches) == 1


def test_exactly_one_colour_bar_and_shared_scale(bert_capture):
    grid = head_grid(bert_capture)
    assert len(_colorbars(grid.figure)) == 1
    norms = {(im.norm.vmin, im.norm.vmax) for im in grid.images}
    assert len(norms) == 1
    assert norms.pop()[1] == pytest.approx(float(bert_capture[0].attentions.max()))


def test_layer_and_head_labels_use_model_numbers():
    cap = synthetic(layers=3, heads=4)
    sub = Capture(cap.examples, layers=[2, 5, 7], heads=[1, 3, 6, 8], num_layers=8, num_heads=12)
    grid = head_grid(sub, layers=[5, 7], heads=[3, 8])
    assert [t.get_text() for t in grid.layer_labels] == ["layer 5", "layer 7"]
    assert [t.get_text() for t in grid.head_labels if t.get_text() != "head"] in (["head 3", "head 8"], ["3", "8"])
    np.testing.assert_allclose(grid.matrix(7, 8), cap[0].attentions[2, 3])


def test_tokens_on_outer_cells_only():
    cap = synthetic(layers=2, heads=2, n=4)
    grid = head_grid(cap, tokens=True, width=6)
    ax = grid.ax
    # keys under the bottom row only (every head), queries left of every layer row, nothing on top/right
    assert [t.get_text() for t in ax.get_xticklabels()] == ["w0", "w1", "w2", "w3"] * 2
    assert [t.get_text() for t in ax.get_yticklabels()] == ["w0", "w1", "w2", "w3"] * 2
    assert ax.xaxis.get_ticks_position() == "bottom" and ax.yaxis.get_ticks_position() == "left"
    g = grid.gap
    assert list(ax.get_xticks()) == [0, 1, 2, 3, 4 + g, 5 + g, 6 + g, 7 + g]
    assert list(ax.get_yticks()) == [0, 1, 2, 3, 4 + g, 5 + g, 6 + g, 7 + g]


def test_one_axes_one_image_one_colour_bar(bert_capture):
    """The speed of the grid: two Axes in all (mosaic + colour bar) and one image, whatever its size."""
    grid = head_grid(bert_capture)
    assert len(grid.figure.axes) == 2 and len(grid.ax.images) == 1
    assert grid.images == [grid.image] and grid.row_axes == [grid.ax, grid.ax]
    gap_rows = grid.image.get_array()[grid.shape[0]:grid.shape[0] + grid.gap]
    assert np.isnan(np.asarray(gap_rows, dtype=float)).all() or np.ma.getmaskarray(gap_rows).all()


def test_no_tokens_when_too_many():
    grid = head_grid(synthetic(layers=2, heads=12, n=60), width="column")
    assert len(grid.ax.get_xticklabels()) == 0 and len(grid.ax.get_yticklabels()) == 0


def test_hide_special_and_row_scale(bert_capture):
    ex = bert_capture[0]
    keep = [i for i, s in enumerate(ex.special_mask) if not s]
    grid = head_grid(bert_capture, hide_special=True, scale="row")
    shown = grid.matrix(1, 2)
    expected = ex.attentions[1, 2][np.ix_(keep, keep)]
    np.testing.assert_allclose(shown, expected / expected.max(1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(shown.max(1), 1.0, rtol=1e-6)
    assert grid.row_tokens == [ex.display_tokens[i] for i in keep]


def test_log_scale(gpt2_capture):
    grid = head_grid(gpt2_capture, scale="log")
    assert all(isinstance(im.norm, mpl.colors.LogNorm) for im in grid.images)


def test_cross_attention_grid(t5_capture):
    ex = t5_capture[0]
    grid = head_grid(t5_capture, kind="cross")
    assert grid.matrix(1, 3).shape == ex.cross_attentions.shape[2:]
    np.testing.assert_allclose(grid.matrix(1, 3), ex.cross_attentions[1, 3])


def test_prompt_boundary_in_every_cell():
    cap = synthetic(layers=2, heads=3, n=6, prompt_length=3)
    grid = head_grid(cap)
    segments = [np.asarray(s) for s in grid.boundaries.get_segments()]
    horizontal = [s for s in segments if s[0, 1] == s[1, 1]]
    vertical = [s for s in segments if s[0, 0] == s[1, 0]]
    assert len(horizontal) == 6 and len(vertical) == 6  # one of each in each of the 2 x 3 cells
    for layer in grid.layers:
        for head in grid.heads:
            y0, x0 = grid.cell_origin(layer, head)
            assert any(s[0, 1] == y0 + 2.5 and s[0, 0] == x0 - 0.5 and s[1, 0] == x0 + 5.5 for s in horizontal)
            assert any(s[0, 0] == x0 + 2.5 and s[0, 1] == y0 - 0.5 and s[1, 1] == y0 + 5.5 for s in vertical)


def test_no_boundary_without_a_prompt(bert_capture):
    assert head_grid(bert_capture).boundaries is None


def test_savefig_and_repr_png(tmp_path, bert_capture):
    grid = head_grid(bert_capture)
    assert grid._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    path = grid.savefig(tmp_path / "grid.png", width="column", dpi=80)
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_resizing_refits_the_head_labels(tmp_path):
    from attnviz.plot.resize import relayout

    grid = head_grid(synthetic(layers=2, heads=12, n=6), width=12)
    assert grid.head_labels[0].get_text() == "head 0"
    grid.figure.set_size_inches(2.5, 1.5)
    relayout(grid.figure)
    assert grid.head_labels[0].get_text() == "0"
    grid.savefig(tmp_path / "wide.png", width=12, dpi=30)
    assert grid.head_labels[0].get_text() == "0"  # saving restores the size and the labels
    assert grid.figure.get_size_inches().tolist() == [2.5, 1.5]


@pytest.mark.parametrize("kwargs, message", [
    (dict(example=3), "out of range"),
    (dict(layers=[4]), "layer 4 is not in this capture"),
    (dict(heads=[0, 11]), "head 11 is not in this capture"),
    (dict(layers=[]), "at least one"),
    (dict(scale="sqrt"), "scale="),
    (dict(tokens="some"), "tokens="),
    (dict(width="poster"), "width="),
])
def test_bad_input_gives_clear_errors(bert_capture, kwargs, message):
    with pytest.raises((ValueError, IndexError), match=message):
        head_grid(bert_capture, **kwargs)


def test_capture_without_attentions():
    with pytest.raises(ValueError, match="no attention maps"):
        head_grid(Capture([Example(tokens=["a"])], layers=[0], heads=[0]))


def test_rcparams_unchanged(bert_capture, tmp_path):
    before = dict(mpl.rcParams)
    grid = head_grid(bert_capture, scale="log", title="t")
    grid.savefig(tmp_path / "g.pdf")
    assert dict(mpl.rcParams) == before


@pytest.mark.slow
def test_minilm_grid_is_six_by_twelve(minilm, tmp_path):
    import attnviz

    cap = attnviz.extract(minilm[0], "The quick brown fox jumps over the lazy dog.", tokenizer=minilm[1])
    grid = head_grid(cap, width="page")
    assert grid.axes.shape == (6, 12)
    assert [t.get_text() for t in grid.layer_labels] == [f"layer {i}" for i in range(6)]
    assert grid.savefig(tmp_path / "minilm.pdf").stat().st_size < 3_000_000
