"""The neuron view: q and k from the model's weights give back the captured attention."""
from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest

import attnviz
from attnviz.families import FAMILIES
from attnviz.notebook import neuron_view
from attnviz.notebook.neuron import REASONS, SUPPORTED, query_key_vectors
from attnviz.testing import tiny_model


@pytest.mark.parametrize("kind", ["bert", "roberta", "distilbert", "gpt2"])
def test_softmax_of_q_dot_k_is_the_captured_attention(kind):
    model, tok = tiny_model(kind)
    cap = attnviz.extract(model, ["the cat sat on the mat", "hello"], tokenizer=tok)
    for layer in range(cap.num_layers):
        for head in (0, cap.num_heads - 1):
            qk = query_key_vectors(model, cap, example=0, layer=layer, head=head)
            np.testing.assert_allclose(qk.attention(), cap[0].attentions[layer, head], atol=1e-5)
    assert qk.causal == (kind == "gpt2")


def test_view_payload_and_refusals(bert_capture, tiny_bert, tiny_t5, t5_capture):
    model, _ = tiny_bert
    view = neuron_view(model, bert_capture, example=1, layer=1, head=3)
    p = view.payload
    assert (p["layer"], p["head"], p["d"]) == (1, 3, 8) and p["tokens"] == bert_capture[1].display_tokens
    assert not bert_capture[1].special_mask[p["query"]]
    assert "attnvizViews" in view._repr_html_() and "http" not in str(view)
    with pytest.raises(NotImplementedError, match="relative-position bias"):
        neuron_view(tiny_t5[0], t5_capture)
    with pytest.raises(ValueError, match="out of range"):
        neuron_view(model, bert_capture, layer=5)
    with pytest.raises(ValueError, match="out of range"):
        neuron_view(model, bert_capture, head=9)


def test_rotary_family_is_refused_with_the_reason():
    model, tok = tiny_model("llama")
    cap = attnviz.extract(model, "the cat", tokenizer=tok)
    with pytest.raises(NotImplementedError, match="rotary"):
        query_key_vectors(model, cap)


@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_support_follows_the_family_table(model_type):
    """The view reads absolute-position encoder-only/decoder-only families with known q and k; the
    others are refused with the reason their positions kind gives."""
    family = FAMILIES[model_type]
    plain = family.positions == "absolute" and family.decoder_layers is None and family.query is not None
    assert (model_type in SUPPORTED) == plain
    if plain:
        return
    model = SimpleNamespace(config=SimpleNamespace(model_type=model_type))
    reason = REASONS.get(family.positions) or ("encoder-decoder" if family.decoder_layers else "plain scaled dot")
    with pytest.raises(NotImplementedError, match=re.escape(reason)):
        query_key_vectors(model, None)


def test_a_family_missing_from_the_table_is_refused_with_where_to_add_it():
    model = SimpleNamespace(config=SimpleNamespace(model_type="not-in-the-table"))
    with pytest.raises(NotImplementedError, match="attnviz.families.FAMILIES"):
        query_key_vectors(model, None)
