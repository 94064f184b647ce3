"""attnviz.extract on tiny random models of every family, and on the real MiniLM."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import attnviz
from attnviz.batching import BatchRunner, StreamingUnavailable
from attnviz.modeling import AttentionUnavailableError
from attnviz.testing import save_tiny_model, tiny_model


def _assert_rows_sum_to_one(array: np.ndarray) -> None:
    np.testing.assert_allclose(array.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("kind", ["bert", "distilbert", "roberta", "gpt2"])
def test_single_stack_families_shapes_and_row_sums(kind, texts):
    model, tok = tiny_model(kind)
    cap = attnviz.extract(model, texts, batch_size=2, tokenizer=tok)
    assert len(cap) == len(texts)
    assert (cap.num_layers, cap.num_heads) == (2, 4)
    for text, ex in zip(texts, cap):
        n = len(tok(text)["input_ids"])
        assert ex.tokens == tok.convert_ids_to_tokens(tok(text)["input_ids"])
        assert ex.attentions.shape == (2, 4, n, n)
        assert ex.hidden_states.shape == (3, n, 32)
        _assert_rows_sum_to_one(ex.attentions)
        assert ex.text == text
    assert cap.is_decoder == (kind == "gpt2")


def test_decoder_attention_is_causal(gpt2_capture):
    ex = gpt2_capture[2]
    upper = np.triu(np.ones(ex.attentions.shape[-2:], bool), k=1)
    assert np.all(ex.attentions[..., upper] == 0)


@pytest.mark.parametrize("kind", ["bart", "t5"])
def test_encoder_decoder_axes(kind):
    model, tok = tiny_model(kind, head="lm")
    cap = attnviz.extract(model, ["the cat sat on the mat", "hello"],
                          decoder_texts=["le chat est noir", "bonjour"], tokenizer=tok)
    for ex, target in zip(cap, ["le chat est noir", "bonjour"]):
        labels = tok(text_target=target)["input_ids"]
        start = model.config.decoder_start_token_id
        assert ex.decoder_tokens == tok.convert_ids_to_tokens([start] + labels[:-1])
        n_enc, n_dec = len(ex.encoder_tokens), len(ex.decoder_tokens)
        assert ex.attentions.shape == (2, 4, n_enc, n_enc)
        assert ex.decoder_attentions.shape == (2, 4, n_dec, n_dec)
        assert ex.cross_attentions.shape == (2, 4, n_dec, n_enc)
        assert ex.decoder_hidden_states.shape == (3, n_dec, 32)
        for arr in (ex.attentions, ex.decoder_attentions, ex.cross_attentions):
            _assert_rows_sum_to_one(arr)
        assert ex.axis_tokens("cross", display=False) == (ex.decoder_tokens, ex.encoder_tokens)
    assert cap.is_encoder_decoder and cap.decoder_layers == [0, 1]


def test_encoder_decoder_from_label_ids(tiny_t5):
    model, tok = tiny_t5
    labels = [tok(text_target="le chat")["input_ids"]]
    by_labels = attnviz.extract(model, "the cat", labels=labels, tokenizer=tok)
    by_text = attnviz.extract(model, "the cat", decoder_texts="le chat", tokenizer=tok)
    np.testing.assert_array_equal(by_labels[0].cross_attentions, by_text[0].cross_attentions)


def test_encoder_decoder_without_decoder_input_is_an_error(tiny_bart):
    with pytest.raises(ValueError, match="decoder_texts="):
        attnviz.extract(*tiny_bart, "the cat")


def _bert_recompute(model, hidden: np.ndarray, layer: int) -> np.ndarray:
    attn = model.encoder.layer[layer].attention.self
    h = torch.from_numpy(hidden)
    heads, dim = model.config.num_attention_heads, model.config.hidden_size // model.config.num_attention_heads
    q = attn.query(h).view(-1, heads, dim).transpose(0, 1)
    k = attn.key(h).view(-1, heads, dim).transpose(0, 1)
    return torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dim), dim=-1).detach().numpy()


def test_bert_attention_equals_recomputation_from_query_key_weights(tiny_bert, bert_capture):
    model, _ = tiny_bert
    for ex in bert_capture:
        for layer in range(2):
            expected = _bert_recompute(model, ex.hidden_states[layer], layer)
            np.testing.assert_allclose(ex.attentions[layer], expected, atol=1e-5)


def test_gpt2_attention_equals_recomputation_from_query_key_weights(tiny_gpt2, gpt2_capture):
    model, _ = tiny_gpt2
    heads, dim = 4, 8
    for ex in gpt2_capture:
        for layer, block in enumerate(model.transformer.h):
            h = block.ln_1(torch.from_numpy(ex.hidden_states[layer]))
            q, k, _ = block.attn.c_attn(h).split(32, dim=-1)
            q = q.view(-1, heads, dim).transpose(0, 1)
            k = k.view(-1, heads, dim).transpose(0, 1)
            scores = q @ k.transpose(-1, -2) / math.sqrt(dim)
            n = scores.shape[-1]
            scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
            expected = torch.softmax(scores, -1).detach().numpy()
            np.testing.assert_allclose(ex.attentions[layer], expected, atol=1e-5)


@pytest.mark.parametrize("kind,side", [("bert", "right"), ("bert", "left"), ("gpt2", "left"),
                                       ("gpt2", "right"), ("roberta", "left"), ("distilbert", "left")])
def test_padding_removed_batched_equals_one_by_one(kind, side, texts):
    model, tok = tiny_model(kind)
    batched = attnviz.extract(model, texts, batch_size=3, padding_side=side, tokenizer=tok)
    for i, text in enumerate(texts):
        alone = attnviz.extract(model, text, batch_size=1, tokenizer=tok)
        assert batched[i].tokens == alone[0].tokens
        assert "[PAD]" not in batched[i].tokens and "<pad>" not in batched[i].tokens
        np.testing.assert_allclose(batched[i].attentions, alone[0].attentions, atol=1e-5)
        np.testing.assert_allclose(batched[i].hidden_states, alone[0].hidden_states, atol=1e-4)


def test_model_state_restored_and_no_gradients(tiny_bert, texts):
    model, tok = tiny_bert
    model.train()
    try:
        cap = attnviz.extract(model, texts, tokenizer=tok)
        assert model.training is True
        assert model.config._attn_implementation == "sdpa"
        assert torch.is_grad_enabled()
        assert all(p.grad is None for p in model.parameters())
        assert cap.attn_implementation == "attnviz" and cap.extra["original_attn_implementation"] == "sdpa"
    finally:
        model.eval()
    # dropout was off during the call: a second run in train mode gives the same maps
    model.train()
    try:
        again = attnviz.extract(model, texts, tokenizer=tok)
    finally:
        model.eval()
    np.testing.assert_array_equal(cap[0].attentions, again[0].attentions)


def test_sequence_classifier_keeps_logits_and_label(texts):
    model, tok = tiny_model("bert", head="sequence-classification")
    cap = attnviz.extract(model, texts, tokenizer=tok)
    with torch.no_grad():
        logits = model(**tok(texts[0], return_tensors="pt")).logits[0].numpy()
    np.testing.assert_allclose(cap[0].logits, logits, atol=1e-5)
    assert cap[0].predicted_label == int(np.argmax(logits))
    assert cap[0].predicted_label_name == ["negative", "positive"][cap[0].predicted_label]
    assert cap.id2label == {0: "negative", 1: "positive"}


def test_sentence_pairs(tiny_bert):
    model, tok = tiny_bert
    cap = attnviz.extract(model, ["the cat"], text_pairs=["a dog"], tokenizer=tok)
    assert cap[0].tokens == ["[CLS]", "the", "cat", "[SEP]", "a", "dog", "[SEP]"]
    assert cap[0].special_mask == [True, False, False, True, False, False, True]
    assert cap[0].text_pair == "a dog"
    with pytest.raises(ValueError, match="one per text"):
        attnviz.extract(model, ["a", "b"], text_pairs=["c"], tokenizer=tok)


def test_truncation_warns_with_the_number_of_cut_tokens(tiny_bert):
    model, tok = tiny_bert
    long_text = " ".join(["the cat sat on the mat"] * 20)
    full = len(tok(long_text)["input_ids"])
    with pytest.warns(UserWarning, match=rf"{full - 16} token\(s\) were cut"):
        cap = attnviz.extract(model, long_text, max_length=16, tokenizer=tok)
    assert cap[0].attentions.shape[-1] == 16


def test_text_longer_than_model_maximum_is_truncated_to_it(tiny_bert):
    model, tok = tiny_bert
    with pytest.warns(UserWarning, match="longer than 64 tokens"):
        cap = attnviz.extract(model, " ".join(["hello world"] * 80), tokenizer=tok)
    assert len(cap[0].tokens) == 64


def test_layer_and_head_subsets_equal_slices_of_the_full_capture(tiny_gpt2, gpt2_capture, texts):
    sub = attnviz.extract(*tiny_gpt2, texts, layers=[1], heads=[0, 3])
    assert sub.layers == [1] and sub.heads == [0, 3]
    # within float rounding (the contract: 1e-6): a full capture computes plain scaled dot-product
    # weights in place, a subset with the family's eager function
    np.testing.assert_allclose(sub[0].attentions, gpt2_capture[0].attentions[[1]][:, [0, 3]], rtol=0, atol=1e-6)
    assert sub.layer_position(1) == 0 and sub.head_position(3) == 1


def test_float16_storage_and_no_hidden_states(tiny_bert, bert_capture, texts):
    cap = attnviz.extract(*tiny_bert, texts, dtype="float16", hidden_states=False)
    assert cap[0].attentions.dtype == np.float16 and cap[0].hidden_states is None
    np.testing.assert_allclose(cap[0].attentions, bert_capture[0].attentions, atol=1e-3)


def test_bfloat16_model_gives_float32_numpy(texts):
    model, tok = tiny_model("bert")
    model.to(torch.bfloat16)
    cap = attnviz.extract(model, texts, tokenizer=tok)
    assert cap[0].attentions.dtype == np.float32
    np.testing.assert_allclose(cap[0].attentions.sum(-1), 1.0, atol=2e-2)


def test_model_loaded_from_a_path_with_its_tokenizer(tmp_path, texts):
    path = save_tiny_model("roberta", tmp_path / "m")
    cap = attnviz.extract(str(path), texts, tokenizer=None)
    assert cap.model_type == "roberta" and cap.model_name == str(path)
    model, _ = attnviz.load_model(path)
    assert attnviz.extract(model, texts, tokenizer=None)[0].tokens == cap[0].tokens


def test_model_dispatched_with_device_map(tmp_path, texts):
    pytest.importorskip("accelerate")
    from transformers import AutoModel

    path = save_tiny_model("bert", tmp_path / "m")
    model = AutoModel.from_pretrained(path, device_map="cpu")
    cap = attnviz.extract(model, texts, tokenizer=None)
    _assert_rows_sum_to_one(cap[0].attentions)


def test_display_tokens_and_offsets(tiny_gpt2):
    model, tok = tiny_gpt2
    cap = attnviz.extract(model, "hello world, café", tokenizer=tok)
    ex = cap[0]
    assert "".join(t for t in tok.convert_tokens_to_string(ex.tokens)) == "hello world, café"
    assert all("Ġ" not in t for t in ex.display_tokens)
    assert "café" in "".join(ex.display_tokens) or "caf" in "".join(ex.display_tokens)
    assert ex.offsets is not None and len(ex.offsets) == len(ex.tokens)
    assert ex.word_ids is not None and len(ex.word_ids) == len(ex.tokens)


# --- bad input ---------------------------------------------------------------------------
def test_empty_inputs_are_errors(tiny_bert):
    with pytest.raises(ValueError, match="empty string"):
        attnviz.extract(*tiny_bert, "   ")
    with pytest.raises(ValueError, match="texts is empty"):
        attnviz.extract(*tiny_bert, [])


def test_missing_model_path_is_an_error():
    with pytest.raises(FileNotFoundError, match="no model at"):
        attnviz.extract("/no/such/model", "x", tokenizer=None)


def test_tokenizer_of_another_model_is_an_error():
    model, _ = tiny_model("bert")
    _, big_tok = tiny_model("gpt2")
    with pytest.raises(ValueError, match="does not belong to this model"):
        attnviz.extract(model, "hello world, this is a test of tokenization", tokenizer=big_tok)


@pytest.mark.parametrize("option,value,match", [("layers", [5], "layer 5 is out of range"),
                                                ("heads", [4], "head 4 is out of range"),
                                                ("dtype", "int8", "dtype"), ("batch_size", 0, "batch_size")])
def test_bad_options_are_errors(tiny_bert, option, value, match):
    with pytest.raises(ValueError, match=match):
        attnviz.extract(*tiny_bert, "the cat", **{option: value})


def test_model_that_cannot_switch_to_eager_is_an_error(monkeypatch):
    model, tok = tiny_model("bert")

    def refuse(impl):
        raise ValueError("eager is not supported")

    monkeypatch.setattr(model, "set_attn_implementation", refuse)
    with pytest.raises(AttentionUnavailableError, match="attn_implementation='eager'"):
        attnviz.extract(model, "the cat", tokenizer=tok)


def test_model_returning_no_attentions_is_an_error(monkeypatch):
    model, tok = tiny_model("bert")
    original = model.forward

    def forward(*args, **kwargs):
        out = original(*args, **kwargs)
        out.attentions = ()
        return out

    def no_interface(self, *args):
        raise StreamingUnavailable("no attention call reached attnviz")

    monkeypatch.setattr(model, "forward", forward)
    monkeypatch.setattr(BatchRunner, "_forward_streaming", no_interface)
    with pytest.warns(UserWarning, match="fell back to output_attentions=True"), \
            pytest.raises(AttentionUnavailableError, match="returned no attentions"):
        attnviz.extract(model, "the cat", tokenizer=tok)


# --- the real model ----------------------------------------------------------------------
@pytest.mark.slow
def test_minilm_integration(minilm):
    model, tok = minilm
    cap = attnviz.extract(model, ["The cat sat on the mat.", "Attention is all you need."], batch_size=2, tokenizer=tok)
    assert (cap.num_layers, cap.num_heads, cap.hidden_size) == (6, 12, 384)
    ex = cap[0]
    assert ex.tokens == ["[CLS]", "the", "cat", "sat", "on", "the", "mat", ".", "[SEP]"]
    assert ex.attentions.shape == (6, 12, 9, 9) and ex.hidden_states.shape == (7, 9, 384)
    _assert_rows_sum_to_one(ex.attentions)
    assert model.config._attn_implementation == "sdpa"
