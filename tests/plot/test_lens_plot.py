"""The logit-lens table: shades are the top-1 probabilities, cell texts the top-1 tokens."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest

from attnviz.metrics import logit_lens
from attnviz.plot.lens import MAX_LABEL, lens_table


@pytest.fixture
def lens(tiny_gpt2):
    return logit_lens(tiny_gpt2[0], "the cat sat on the mat", top_k=3, tokenizer=tiny_gpt2[1])


def test_cells_are_top_tokens_shaded_by_probability(lens):
    before = dict(mpl.rcParams)
    ax = lens_table(lens)
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), lens.top_probs[..., 0])
    assert ax.images[0].norm.vmin == 0 and ax.images[0].norm.vmax == 1
    rows, cols = lens.top_probs.shape[:2]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == rows * cols
    expected = [lens.top_tokens[i][j][0] for i in range(rows) for j in range(cols)]
    for got, want in zip(texts, expected, strict=True):
        assert got == want if len(want) <= MAX_LABEL else got == want[:MAX_LABEL - 1] + "…"
    assert [t.get_text() for t in ax.get_xticklabels()] == lens.tokens
    assert [t.get_text() for t in ax.get_yticklabels()] == lens.labels
    assert dict(mpl.rcParams) == before


def test_without_annotation_and_on_a_given_axes(lens):
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    assert lens.plot(ax=ax, annotate=False, cbar=False) is ax
    assert len(ax.texts) == 0 and len(ax.figure.axes) == 1


def test_default_colour_map_is_the_one_default_and_settable(lens):
    from attnviz.plot.theme import SEQUENTIAL

    assert lens_table(lens).images[0].get_cmap().name == SEQUENTIAL == "viridis"
    assert lens_table(lens, cmap="magma").images[0].get_cmap().name == "magma"
