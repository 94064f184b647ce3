"""hidden_norms and layer_similarity: values drawn, labels, errors."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest

from attnviz.capture import Capture, Example
from attnviz.plot import LayerSimilarity, hidden_norms, layer_similarity


def test_hidden_norms_image_and_labels(bert_capture):
    ex = bert_capture[0]
    ax = hidden_norms(bert_capture)
    np.testing.assert_allclose(ax.images[0].get_array(), np.linalg.norm(ex.hidden_states, axis=-1), rtol=1e-5)
    assert [t.get_text() for t in ax.get_xticklabels()] == ex.display_tokens
    assert [t.get_text() for t in ax.get_yticklabels()] == ["embeddings", "layer 0", "layer 1"]
    assert len([a for a in ax.figure.axes if hasattr(a, "_colorbar")]) == 1


def test_hidden_norms_hide_special_and_log(bert_capture):
    ex = bert_capture[1]
    keep = [i for i, s in enumerate(ex.special_mask) if not s]
    ax = hidden_norms(bert_capture, example=1, hide_special=True, scale="log")
    assert ax.images[0].get_array().shape == (3, len(keep))
    assert isinstance(ax.images[0].norm, mpl.colors.LogNorm)


def test_decoder_hidden_norms(t5_capture):
    ex = t5_capture[0]
    ax = hidden_norms(t5_capture, kind="decoder")
    assert [t.get_text() for t in ax.get_xticklabels()] == ex.decoder_display_tokens


def test_layer_similarity_values(bert_capture):
    ex = bert_capture[2]
    sim = layer_similarity(bert_capture, example=2)
    assert isinstance(sim, LayerSimilarity) and sim.axes.shape == (2,)
    h = ex.hidden_states.astype(np.float64)
    unit = h / np.linalg.norm(h, axis=-1, keepdims=True)
    expected = np.mean([[np.sum(unit[i] * unit[j], axis=-1).mean() for j in range(3)] for i in range(3)], axis=())
    np.testing.assert_allclose(sim.matrix, expected, rtol=1e-5)
    np.testing.assert_allclose(sim.to_final, np.sum(unit * unit[-1], axis=-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sim.axes[0].images[0].get_array(), sim.matrix, rtol=1e-6)
    np.testing.assert_allclose(sim.axes[1].images[0].get_array(), sim.to_final, rtol=1e-6)
    assert [t.get_text() for t in sim.axes[1].get_xticklabels()] == ex.display_tokens
    assert len([a for a in sim.figure.axes if hasattr(a, "_colorbar")]) == 1
    assert sim._repr_png_()[:4] == b"\x89PNG"


def test_without_hidden_states_is_a_clear_error():
    cap = Capture([Example(tokens=["a"], attentions=np.ones((1, 1, 1, 1), "float32"))], layers=[0], heads=[0])
    for fn in (hidden_norms, layer_similarity):
        with pytest.raises(ValueError, match="hidden_states=True"):
            fn(cap)
    with pytest.raises(IndexError, match="out of range"):
        hidden_norms(cap, example=4)


def test_rcparams_unchanged(bert_capture, tmp_path):
    before = dict(mpl.rcParams)
    hidden_norms(bert_capture)
    layer_similarity(bert_capture).savefig(tmp_path / "s.svg")
    assert dict(mpl.rcParams) == before


def test_hidden_norms_style_keywords_and_imshow_keywords(bert_capture):
    """ax, cmap, cbar and title (MapStyle) are honoured; other keywords reach imshow and may override its defaults."""
    import matplotlib.pyplot as plt

    fig, given = plt.subplots()
    ax = hidden_norms(bert_capture, ax=given, cmap="magma", cbar=False, title="", alpha=0.5, interpolation="bilinear")
    image = ax.images[0]
    assert ax is given and image.get_cmap().name == "magma" and ax.get_title() == ""
    assert image.get_alpha() == 0.5 and image.get_interpolation() == "bilinear"
    assert len(fig.axes) == 1  # no colour bar
    assert hidden_norms(bert_capture).get_title() == "hidden-state norm"
    plt.close("all")
