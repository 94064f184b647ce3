"""Rollout/flow figures: image data equals the matrix, tick labels equal the tokens, bars equal a row."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest

from attnviz.metrics import Rollout, attention_flow, rollout
from attnviz.plot.rollout import rollout_bars, rollout_heatmap


@pytest.fixture
def result(bert_capture):
    return rollout(bert_capture, example=0)


def test_heatmap_shows_the_matrix_with_tokens_on_both_axes(result):
    before = dict(mpl.rcParams)
    ax = rollout_heatmap(result)
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), result.matrix)
    assert [t.get_text() for t in ax.get_xticklabels()] == result.tokens
    assert [t.get_text() for t in ax.get_yticklabels()] == result.tokens
    assert "rollout" in ax.get_title() and "mean of heads" in ax.get_title()
    assert ax.images[0].get_rasterized()
    assert dict(mpl.rcParams) == before


def test_bars_show_one_query_row_cls_by_default(result):
    ax = result.plot_bars()
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, result.matrix[0])
    assert [t.get_text() for t in ax.get_xticklabels()] == result.tokens
    assert "[CLS]" in ax.get_title()
    ax2 = rollout_bars(result, query=2)
    np.testing.assert_allclose([p.get_height() for p in ax2.patches], result.matrix[2])


def test_flow_plots_on_a_given_axes(bert_capture):
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    flow = attention_flow(bert_capture, example=1)
    assert flow.plot(ax=left, cbar=False) is left
    assert rollout_bars(flow, ax=right) is right
    assert "flow" in left.get_title()
    np.testing.assert_allclose(np.asarray(left.images[0].get_array()), flow.matrix)


def test_bad_query_is_refused():
    with pytest.raises(IndexError, match="out of range"):
        rollout_bars(Rollout(np.eye(2), ["a", "b"], layers=[0]), query=5)


def test_saved_png(tmp_path, result):
    from attnviz.plot.export import save_figure

    out = save_figure(result.plot(), tmp_path / "rollout.png", width="column", dpi=100)
    assert out.read_bytes()[:4] == b"\x89PNG"
