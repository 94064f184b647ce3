"""to_bertviz: bertviz itself accepts the arguments and returns HTML."""
from __future__ import annotations

import numpy as np
import pytest

from attnviz.notebook import to_bertviz

bertviz = pytest.importorskip("bertviz")


def test_encoder_arguments_match_the_capture(bert_capture):
    kw = to_bertviz(bert_capture, 1)
    ex = bert_capture[1]
    assert sorted(kw) == ["attention", "tokens"]
    assert kw["tokens"] == ex.display_tokens
    assert len(kw["attention"]) == bert_capture.num_layers
    for layer, tensor in enumerate(kw["attention"]):
        assert tuple(tensor.shape) == (1, bert_capture.num_heads, ex.num_tokens, ex.num_tokens)
        np.testing.assert_array_equal(tensor[0].numpy(), ex.attentions[layer])


@pytest.mark.parametrize("view", ["head_view", "model_view"])
def test_bertviz_renders_encoder_and_seq2seq(bert_capture, t5_capture, view):
    for cap in (bert_capture, t5_capture):
        html = getattr(bertviz, view)(**to_bertviz(cap), html_action="return").data
        assert "<div" in html and "attention" in html
        assert cap[0].display_tokens[1] in html


def test_seq2seq_arguments_and_kinds(t5_capture):
    ex = t5_capture[0]
    kw = to_bertviz(t5_capture)
    assert kw["encoder_tokens"] == ex.display_tokens and kw["decoder_tokens"] == ex.decoder_display_tokens
    assert tuple(kw["cross_attention"][0].shape) == (1, t5_capture.num_heads, len(ex.decoder_tokens), ex.num_tokens)
    dec = to_bertviz(t5_capture, kind="decoder")
    assert dec["tokens"] == ex.decoder_display_tokens
    np.testing.assert_array_equal(dec["attention"][1][0].numpy(), ex.decoder_attentions[1])
    cross = to_bertviz(t5_capture, kind="cross")
    assert sorted(cross) == ["cross_attention", "decoder_tokens", "encoder_tokens"]
    assert "<div" in bertviz.head_view(**cross, html_action="return").data


def test_bad_input(bert_capture):
    with pytest.raises(TypeError, match="attnviz.extract"):
        to_bertviz([1, 2])
    with pytest.raises(IndexError, match="out of range"):
        to_bertviz(bert_capture, 9)
    with pytest.raises(ValueError, match="no 'decoder' attention"):
        to_bertviz(bert_capture, kind="decoder")


def test_warns_once_about_the_network_and_names_our_views(bert_capture, monkeypatch):
    import warnings

    from attnviz.notebook import bertviz as module

    monkeypatch.setattr(module, "_warned", False)
    with pytest.warns(module.BertvizNetworkWarning, match="network") as record:
        to_bertviz(bert_capture)
    text = str(record[0].message)
    assert "head_view" in text and "model_view" in text and "explorer_view" in text and "require" in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        to_bertviz(bert_capture, 1)


def test_text_pairs_pass_sentence_b_start(tiny_bert):
    import attnviz

    cap = attnviz.extract(tiny_bert[0], ["the cat sat", "hello"], text_pairs=["a dog ran", "there"], tokenizer=tiny_bert[1])
    kw = to_bertviz(cap)
    start = kw["sentence_b_start"]
    assert kw["tokens"][start - 1] == "[SEP]" and kw["tokens"][-1] == "[SEP]"
    assert "[SEP]" not in kw["tokens"][start:-1] and kw["tokens"].count("[SEP]") == 2
    for view in ("head_view", "model_view"):
        html = getattr(bertviz, view)(**kw, html_action="return").data
        assert "<div" in html
    assert "sentence_b_start" not in to_bertviz(attnviz.extract(tiny_bert[0], "the cat", tokenizer=tiny_bert[1]))
