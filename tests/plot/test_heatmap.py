"""token_heatmap: image data, tick labels, colour bar, special tokens, scales, boundaries, errors."""
from __future__ import annotations

import matplotlib as mpl
import numpy as np
import pytest

from attnviz.capture import Capture, Example
from attnviz.plot import token_heatmap


def _labels(ax, axis="x"):
    return [t.get_text() for t in (ax.get_xticklabels() if axis == "x" else ax.get_yticklabels())]


def _colorbars(fig):
    return [a for a in fig.axes if hasattr(a, "_colorbar")]


def generated_capture(prompt_length=4, n=7):
    rng = np.random.default_rng(1)
    att = np.tril(rng.random((2, 2, n, n))) + np.eye(n)
    att = (att / att.sum(-1, keepdims=True)).astype("float32")
    tokens = ["<s>"] + [f"w{i}" for i in range(1, n)]
    ex = Example(tokens=tokens, attentions=att, special_mask=[True] + [False] * (n - 1),
                 prompt_length=prompt_length, text="w1 w2 w3")
    return Capture([ex], model_name="toy", layers=[0, 1], heads=[0, 1], num_layers=2, num_heads=2, is_decoder=True)


def test_image_is_the_attention_map_and_ticks_are_tokens(bert_capture):
    ex = bert_capture[2]
    ax = token_heatmap(bert_capture, example=2, layer=1, head=3)
    np.testing.assert_allclose(ax.images[0].get_array(), ex.attentions[1, 3])
    assert _labels(ax, "x") == ex.display_tokens
    assert _labels(ax, "y") == ex.display_tokens
    assert len(_colorbars(ax.figure)) == 1


def test_head_mean_and_max(bert_capture):
    ex = bert_capture[0]
    mean = token_heatmap(bert_capture, layer=0, head="mean").images[0].get_array()
    top = token_heatmap(bert_capture, layer=0, head="max").images[0].get_array()
    np.testing.assert_allclose(mean, ex.attentions[0].mean(0), rtol=1e-6)
    np.testing.assert_allclose(top, ex.attentions[0].max(0), rtol=1e-6)


def test_hide_special_drops_cls_and_sep(bert_capture):
    ex = bert_capture[0]
    ax = token_heatmap(bert_capture, layer=1, head=0, hide_special=True)
    keep = [i for i, s in enumerate(ex.special_mask) if not s]
    assert len(keep) < len(ex.tokens)
    np.testing.assert_allclose(ax.images[0].get_array(), ex.attentions[1, 0][np.ix_(keep, keep)])
    assert _labels(ax) == [ex.display_tokens[i] for i in keep]


def test_row_scale_gives_row_maximum_one(bert_capture):
    data = np.asarray(token_heatmap(bert_capture, layer=0, head=1, scale="row").images[0].get_array())
    np.testing.assert_allclose(data.max(axis=1), 1.0, rtol=1e-6)


def test_log_scale_uses_a_log_norm(gpt2_capture):
    ax = token_heatmap(gpt2_capture, layer=1, head=0, scale="log")
    assert isinstance(ax.images[0].norm, mpl.colors.LogNorm)
    np.testing.assert_allclose(ax.images[0].get_array(), gpt2_capture[0].attentions[1, 0])


def test_cross_attention_has_decoder_rows_and_encoder_columns(t5_capture):
    ex = t5_capture[0]
    ax = token_heatmap(t5_capture, kind="cross", layer=1, head=2)
    np.testing.assert_allclose(ax.images[0].get_array(), ex.cross_attentions[1, 2])
    assert _labels(ax, "y") == ex.decoder_display_tokens
    assert _labels(ax, "x") == ex.display_tokens
    dec = token_heatmap(t5_capture, kind="decoder", layer=0, head=0)
    assert _labels(dec, "x") == ex.decoder_display_tokens


def test_annotate_writes_each_value(bert_capture):
    ex = bert_capture[1]
    ax = token_heatmap(bert_capture, example=1, layer=0, head=0, annotate=True, fmt=".3f")
    values = [float(t.get_text()) for t in ax.texts]
    np.testing.assert_allclose(values, ex.attentions[0, 0].ravel(), atol=6e-4)


def test_prompt_boundary_lines_on_both_axes():
    cap = generated_capture(prompt_length=4)
    ax = token_heatmap(cap, layer=0, head=0)
    ys = [line.get_ydata()[0] for line in ax.lines if np.ptp(line.get_ydata()) == 0]
    xs = [line.get_xdata()[0] for line in ax.lines if np.ptp(line.get_xdata()) == 0]
    assert ys == [3.5] and xs == [3.5]
    hidden = token_heatmap(cap, layer=0, head=0, hide_special=True)  # <s> dropped: boundary moves up
    assert [line.get_ydata()[0] for line in hidden.lines if np.ptp(line.get_ydata()) == 0] == [2.5]


def test_cross_boundary_is_horizontal_only(t5_capture):
    ex = t5_capture[0]
    cap = Capture([Example(**{**ex.__dict__, "prompt_length": 1})], layers=t5_capture.layers,
                  heads=t5_capture.heads, decoder_layers=t5_capture.decoder_layers)
    ax = token_heatmap(cap, kind="cross", layer=0, head=0)
    assert len(ax.lines) == 1 and np.ptp(ax.lines[0].get_ydata()) == 0


def test_no_boundary_without_prompt_length(bert_capture):
    assert len(token_heatmap(bert_capture).lines) == 0


def test_draws_on_a_given_axes(bert_capture):
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2)
    assert token_heatmap(bert_capture, ax=b, cbar=False) is b
    assert len(b.images) == 1 and len(a.images) == 0 and _colorbars(fig) == []


@pytest.mark.parametrize("kwargs, message", [
    (dict(example=7), "out of range"),
    (dict(layer=5), "layer 5 is not in this capture"),
    (dict(head=9), "head 9 is not in this capture"),
    (dict(head="median"), "'mean' or 'max'"),
    (dict(scale="sqrt"), "scale="),
    (dict(kind="cross"), "no decoder"),
])
def test_bad_input_gives_clear_errors(bert_capture, kwargs, message):
    with pytest.raises((ValueError, IndexError), match=message):
        token_heatmap(bert_capture, **kwargs)


def test_capture_without_attentions_is_a_clear_error():
    cap = Capture([Example(tokens=["a", "b"])], layers=[0], heads=[0])
    with pytest.raises(ValueError, match="no attention maps"):
        token_heatmap(cap)


def test_rcparams_unchanged(bert_capture):
    before = dict(mpl.rcParams)
    token_heatmap(bert_capture, annotate=True, scale="log", hide_special=True)
    assert dict(mpl.rcParams) == before


def test_long_inputs_thin_the_labels():
    n = 120
    att = np.full((1, 1, n, n), 1 / n, dtype="float32")
    cap = Capture([Example(tokens=[f"t{i}" for i in range(n)], attentions=att)], layers=[0], heads=[0])
    ax = token_heatmap(cap)
    shown = _labels(ax)
    assert 0 < len(shown) < n and shown[0] == "t0"
