"""relevance_strip and side_by_side draw the scores as given (or row-normalised) under the tokens."""
from __future__ import annotations

import numpy as np
import pytest

from attnviz.plot import relevance_strip, side_by_side


def test_strip_draws_the_scores_under_the_tokens():
    ax = relevance_strip([0.2, 0.5, 0.3], ["a", "$x$", "film"], title="chefer")
    assert np.asarray(ax.images[0].get_array()).tolist() == [[0.2, 0.5, 0.3]]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "$x$", "film"]
    assert ax.images[0].get_clim() == (0.2, 0.5)
    assert ax.get_title() == "chefer"


def test_signed_scores_get_a_scale_centred_on_zero():
    ax = relevance_strip([-3.0, 1.0], ["bad", "film"], cbar=False)
    assert ax.images[0].get_clim() == (-3.0, 3.0)
    assert ax.images[0].get_cmap().name == "RdBu_r"


def test_side_by_side_normalises_each_row_and_labels_it():
    view = side_by_side({"attention": [2.0, 1.0, 1.0], "grad x att": [-1.0, 0.5, 0.0]}, ["[CLS]", "good", "film"],
                        notes={"attention": "top-3 sentiment 1/3"}, title="one review")
    first, second = view.axes
    assert np.asarray(first.images[0].get_array()).tolist() == [[1.0, 0.5, 0.5]]
    assert np.asarray(second.images[0].get_array()).tolist() == [[-1.0, 0.5, 0.0]]
    assert second.images[0].get_clim() == (-1.0, 1.0)
    assert first.get_ylabel() == "attention\ntop-3 sentiment 1/3"
    assert [t.get_text() for t in second.get_xticklabels()] == ["[CLS]", "good", "film"]
    assert first.get_xticklabels() == []
    assert view._repr_png_()[:4] == b"\x89PNG"


def test_a_score_count_that_does_not_match_the_tokens_is_an_error():
    with pytest.raises(ValueError, match="one score per token"):
        relevance_strip([1.0], ["a", "b"])
