"""Figures of importance: the map, matters vs changed (with Spearman), pruning."""
from __future__ import annotations

import numpy as np
import pytest

import attnviz
from attnviz.metrics.importance import HeadImportance
from attnviz.plot.importance import importance_map, matters_vs_changed, spearman
from attnviz.testing import tiny_model


@pytest.fixture(scope="module")
def comparison():
    texts = ["the cat sat", "a dog barked", "hello world"]
    pairs = [tiny_model("bert", seed=s) for s in (0, 1, 2)]
    caps = [attnviz.extract(model, texts, tokenizer=tok) for model, tok in pairs]
    return attnviz.compare(caps[0], caps[1], baseline=caps[2])


def test_matters_vs_changed_draws_both_maps_and_the_scatter_with_spearman(comparison):
    scores = np.arange(8.0).reshape(2, 4)
    imp = HeadImportance(scores, scores)
    fig = matters_vs_changed(imp, comparison)
    left, middle, scatter = fig.axes
    np.testing.assert_array_equal(left.images[0].get_array(), scores)
    np.testing.assert_allclose(middle.images[0].get_array(), comparison.change)
    points = np.concatenate([c.get_offsets() for c in scatter.collections])
    assert len(points) == 8
    rho = spearman(scores, comparison.change)
    assert scatter.get_title().startswith(f"Spearman rho = {rho:.2f}")
    assert fig.figure.attnviz_spearman == pytest.approx(rho)
    labels = [t.get_text() for t in scatter.get_legend().get_texts()]
    assert labels == ["within seed noise", "beyond seed noise"]


def test_shapes_must_match(comparison):
    with pytest.raises(ValueError, match="layers x heads"):
        matters_vs_changed(HeadImportance(np.zeros((3, 4)), np.zeros((3, 4))), comparison)


def test_importance_map_image_is_the_scores():
    imp = HeadImportance(np.array([[0.1, 0.2], [0.3, 0.4]]), np.zeros((2, 2)), layers=[4, 5], heads=[0, 1])
    ax = importance_map(imp)
    np.testing.assert_array_equal(ax.images[0].get_array(), imp.scores)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["4", "5"]
