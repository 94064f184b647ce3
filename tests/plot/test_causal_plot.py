"""plot.causal: what the knockout curve, the patching map and the bars draw."""
from __future__ import annotations

import numpy as np

from attnviz.metrics.causal import HeadPatching, KnockoutMap
from attnviz.plot.causal import bars, knockout_axes, patching_map


def test_knockout_axes_draws_the_mean_percent_and_the_windows():
    change = np.array([[-0.5, -0.1, 0.0], [-0.3, 0.1, 0.2]])
    km = KnockoutMap(change, [[0, 1], [1, 2], [2, 3]], texts=["a", "b"], task="classification")
    ax = knockout_axes(km)
    assert np.allclose(ax.lines[0].get_ydata(), 100 * change.mean(0))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0-1", "1-2", "2-3"]
    assert ax.get_ylabel() == "% change in p(label)" and len(ax.collections) == 1  # the standard-error band


def test_patching_map_image_is_the_recovered_fraction():
    rec = np.array([[0.0, -0.2], [0.9, 0.1]])
    ax = patching_map(HeadPatching(rec, np.zeros((2, 2)), what="output", num_pairs=3))
    assert np.allclose(np.asarray(ax.images[0].get_array()), rec)
    assert "output" in ax.get_title() and "3 pair" in ax.get_title()


def test_bars_values_and_reference():
    ax = bars({"a": 0.5, "b": 0.25}, reference=0.1, ylabel="acc")
    assert [p.get_height() for p in ax.patches] == [0.5, 0.25]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    assert ax.lines[0].get_ydata()[0] == 0.1
