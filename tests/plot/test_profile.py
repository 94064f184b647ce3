"""query_profile: one query's attention row from every layer, for long inputs and row subsets."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

import attnviz
from attnviz.plot import query_profile
from attnviz.testing import tiny_model

TEXT = "the cat sat on the mat and looked at the dog"


@pytest.fixture(scope="module")
def gpt2():
    return tiny_model("gpt2")


def test_rows_are_the_query_row_of_each_layer(gpt2):
    cap = attnviz.extract(gpt2[0], TEXT, tokenizer=gpt2[1])
    ex = cap[0]
    ax = query_profile(cap, query=3, head=2, scale="linear")
    drawn = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(drawn, ex.attentions[:, 2, 3, :], rtol=0, atol=0)
    assert ax.get_title().startswith("query 3 ")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1"]
    plt.close("all")


def test_mean_over_heads_of_a_last_row_capture(gpt2):
    full = attnviz.extract(gpt2[0], TEXT, tokenizer=gpt2[1])[0]
    cap = attnviz.extract(gpt2[0], TEXT, queries="last", tokenizer=gpt2[1])
    ax = query_profile(cap, head="mean", scale="linear")
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), full.attentions[:, :, -1, :].mean(1), atol=1e-6)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[:2] == full.display_tokens[:2]
    plt.close("all")


def test_a_row_that_was_not_kept_is_refused_with_the_kept_rows(gpt2):
    cap = attnviz.extract(gpt2[0], TEXT, queries=[0, -1], tokenizer=gpt2[1])
    with pytest.raises(ValueError, match=r"query position 2 was not kept.*\[0, 1[0-9]\]"):
        query_profile(cap, query=2)
    with pytest.raises(ValueError, match="out of range"):
        query_profile(cap, query=100)
    with pytest.raises(ValueError, match="'mean' or 'max'"):
        query_profile(cap, query=0, head="median")
    plt.close("all")


def test_long_inputs_get_position_ticks_and_a_log_scale(gpt2, monkeypatch):
    monkeypatch.setattr(attnviz.plot.profile, "MAX_TOKEN_LABELS", 8)
    cap = attnviz.extract(gpt2[0], TEXT + " " + TEXT, queries="last", layers=[1], tokenizer=gpt2[1])
    ax = query_profile(cap)
    assert cap[0].num_tokens > 8
    assert ax.get_xlabel() == "key position"
    assert isinstance(ax.images[0].norm, matplotlib.colors.LogNorm)
    assert np.asarray(ax.images[0].get_array()).shape == (1, cap[0].num_tokens)
    plt.close("all")


def test_style_keywords_and_an_unknown_keyword(gpt2):
    cap = attnviz.extract(gpt2[0], TEXT, tokenizer=gpt2[1])
    fig, given = plt.subplots()
    ax = query_profile(cap, ax=given, cmap="magma", cbar=False, title="mine")
    assert ax is given and ax.images[0].get_cmap().name == "magma" and ax.get_title() == "mine"
    assert len(fig.axes) == 1  # no colour bar
    ax = query_profile(cap, scale="row")
    assert [a.get_ylabel() for a in ax.figure.axes[1:]] == ["attention / row max"]
    with pytest.raises(TypeError, match="unexpected keyword argument 'vmin'.*ax, cmap, cbar, title"):
        query_profile(cap, vmin=0.1)
    plt.close("all")
