"""The tutorial's comparison cells draw each figure once: the returned object, no pyplot copy."""
from __future__ import annotations

import pytest

import attnviz


@pytest.mark.parametrize("kind", ["layers", "map", "head"])
def test_comparison_figures_are_not_left_with_pyplot(bert_capture, kind):
    import matplotlib.pyplot as plt

    plt.close("all")
    view = attnviz.compare(bert_capture, bert_capture).plot(kind)
    assert plt.get_fignums() == []  # the inline backend has nothing to show a second time
    assert view._repr_png_()[:4] == b"\x89PNG"
