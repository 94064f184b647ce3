"""Logit lens: the last layer reproduces the model's logits; errors for models it does not fit."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attnviz.extraction.tokens import display_tokens
from attnviz.metrics import LogitLens, logit_lens
from attnviz.testing import tiny_model

TEXT = "the cat sat on the mat"


def model_probs(model, tok, text):
    with torch.no_grad():
        logits = model(**tok(text, return_tensors="pt")).logits[0]
    return torch.softmax(logits.float(), -1)


def test_last_layer_equals_the_model_logits(tiny_gpt2):
    model, tok = tiny_gpt2
    lens = logit_lens(model, TEXT, top_k=5, tokenizer=tok)
    top = model_probs(model, tok, TEXT).topk(5, -1)
    np.testing.assert_array_equal(lens.top_ids[-1], top.indices.numpy())
    np.testing.assert_allclose(lens.top_probs[-1], top.values.numpy(), atol=1e-6)
    assert lens.top_ids.shape == (model.config.n_layer + 1, len(tok(TEXT)["input_ids"]), 5)
    assert lens.labels == ["embeddings", "layer 0", "layer 1"]


def test_earlier_layers_go_through_the_final_norm_once(tiny_gpt2):
    model, tok = tiny_gpt2
    lens = logit_lens(model, TEXT, top_k=3, tokenizer=tok)
    with torch.no_grad():
        out = model(**tok(TEXT, return_tensors="pt"), output_hidden_states=True)
        first = torch.softmax(model.lm_head(model.transformer.ln_f(out.hidden_states[1][0])), -1)
    np.testing.assert_allclose(lens.top_probs[1], first.topk(3, -1).values.numpy(), atol=1e-6)


def test_next_token_probabilities_and_readable_tokens(tiny_gpt2):
    model, tok = tiny_gpt2
    lens = logit_lens(model, TEXT, tokenizer=tok)
    ids = tok(TEXT)["input_ids"]
    probs = model_probs(model, tok, TEXT)
    expected = probs[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].numpy()
    np.testing.assert_allclose(lens.next_probs[-1, :-1], expected, atol=1e-6)
    assert np.isnan(lens.next_probs[:, -1]).all()
    assert lens.tokens == display_tokens(tok.convert_ids_to_tokens(ids), byte_level=True)
    assert "Ġ" not in "".join(lens.tokens)
    assert all(isinstance(t, str) for t in lens.top_tokens[0][0])
    assert "LogitLens" in repr(lens) and isinstance(lens, LogitLens)


def test_models_without_an_lm_head_are_refused(tiny_bert, tiny_t5):
    with pytest.raises(ValueError, match="no LM head"):
        model, tok = tiny_model("gpt2")
        logit_lens(model, TEXT, tokenizer=tok)  # GPT2Model: no unembedding
    with pytest.raises(ValueError, match="masked LM"):
        model, tok = tiny_model("bert", head="lm")
        logit_lens(model, TEXT, tokenizer=tok)
    with pytest.raises(ValueError, match="encoder-decoder"):
        logit_lens(tiny_t5[0], TEXT, tokenizer=tiny_t5[1])


def test_bad_text_and_top_k(tiny_gpt2):
    with pytest.raises(ValueError, match="non-empty string"):
        logit_lens(tiny_gpt2[0], "  ", tokenizer=tiny_gpt2[1])
    with pytest.raises(ValueError, match="top_k"):
        logit_lens(tiny_gpt2[0], TEXT, top_k=0, tokenizer=tiny_gpt2[1])


def test_a_model_folder_is_loaded_with_its_tokenizer(tiny_gpt2, tmp_path):
    model, tok = tiny_gpt2
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    from_folder = logit_lens(str(tmp_path), text=TEXT, top_k=3)
    loaded = logit_lens(model, TEXT, top_k=3, tokenizer=tok)
    np.testing.assert_array_equal(from_folder.top_ids, loaded.top_ids)
    np.testing.assert_allclose(from_folder.top_probs, loaded.top_probs, atol=1e-6)
