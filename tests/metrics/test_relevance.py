"""relevance(): Chefer et al. 2021 against a restatement of the authors' code, grad * attention and
Kobayashi et al. 2020's value norms against hand computations, targets, decoders, the result's I/O."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import attnviz
from attnviz.metrics import Relevance, relevance
from attnviz.testing import tiny_model

TEXTS = ["the cat sat on the mat", "a good dog"]


@pytest.fixture(scope="module")
def bert_classifier():
    """A tiny BERT classifier with weights large enough that gradients are far from zero."""
    return tiny_model("bert", head="sequence-classification", initializer_range=0.3, seed=1)


def authors_chefer(model, tok, text, index=None):
    """Restatement of hila-chefer's generate_relevance (Transformer-MM-Explainability): eager attention
    with output_attentions=True, retain_grad on each map, backward of one_hot * logits,
    avg_heads = (grad * cam).clamp(min=0).mean(heads), R += cam @ R; the [CLS] row of R."""
    model.set_attn_implementation("eager")
    try:
        enc = tok(text, return_tensors="pt")
        out = model(**enc, output_attentions=True)
        for a in out.attentions:
            a.retain_grad()
        logits = out.logits
        if index is None:
            index = int(np.argmax(logits.detach().numpy(), axis=-1)[0])
        one_hot = torch.zeros_like(logits)
        one_hot[0, index] = 1
        model.zero_grad()
        torch.sum(one_hot * logits).backward(retain_graph=True)
        n = out.attentions[0].shape[-1]
        r = torch.eye(n)
        grads_times_att = []
        for a in out.attentions:
            cam, grad = a[0], a.grad[0]
            grads_times_att.append((grad * cam).detach())
            cam = (grad * cam).clamp(min=0).mean(dim=0)
            r = r + torch.matmul(cam, r)
        return r[0].detach().numpy(), torch.stack(grads_times_att).numpy(), index
    finally:
        model.set_attn_implementation("sdpa")
        model.zero_grad()


def test_chefer_equals_the_authors_code(bert_classifier):
    model, tok = bert_classifier
    rel = relevance(model, TEXTS, tokenizer=tok, method="chefer")
    for e, text in enumerate(TEXTS):
        expected, _, index = authors_chefer(model, tok, text)
        assert np.abs(expected[1:]).max() > 1e-2                      # the gradients are not vanishing
        np.testing.assert_allclose(rel.scores[e], expected, atol=1e-5, rtol=1e-5)
        assert rel.targets[e] == index and rel.positions[e] == 0
        np.testing.assert_allclose(rel.maps[e][-1, 0, 0], expected, atol=1e-5, rtol=1e-5)


def test_grad_attention_and_a_given_class(bert_classifier):
    model, tok = bert_classifier
    predicted = relevance(model, TEXTS[0], tokenizer=tok, method="grad_attention").targets[0]
    other = 1 - predicted
    rel = relevance(model, TEXTS[0], tokenizer=tok, method="grad_attention", target=other)
    _, expected, _ = authors_chefer(model, tok, TEXTS[0], index=other)
    assert rel.targets == [other] and rel.maps[0].shape == expected.shape
    np.testing.assert_allclose(rel.maps[0], expected, atol=1e-6, rtol=1e-4)
    np.testing.assert_allclose(rel.scores[0], expected[:, :, 0].mean((0, 1)), atol=1e-6)
    name = model.config.id2label[other]
    assert relevance(model, TEXTS[0], tokenizer=tok, target=name).target_names == [name]
    with pytest.raises(ValueError, match="not a label"):
        relevance(model, TEXTS[0], tokenizer=tok, target="nope")


def eager_attentions_and_values(model, enc, value_projections) -> tuple:
    """The eager forward's attention maps of ``enc`` and, by layer, the output of each layer's value
    projection (the modules ``value_projections``, in layer order)."""
    values = {}
    hooks = [v.register_forward_hook(lambda m, a, o, i=i: values.__setitem__(i, o.detach()))
             for i, v in enumerate(value_projections)]
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            att = model(**enc, output_attentions=True).attentions
    finally:
        model.set_attn_implementation("sdpa")
        for h in hooks:
            h.remove()
    return att, values


def test_value_norm_equals_a_hand_computation(bert_classifier):
    model, tok = bert_classifier
    enc = tok(TEXTS[1], return_tensors="pt")
    att, values = eager_attentions_and_values(model, enc, [layer.attention.self.value
                                                            for layer in model.bert.encoder.layer])
    heads, d = model.config.num_attention_heads, model.config.hidden_size // model.config.num_attention_heads
    n = enc["input_ids"].shape[1]
    expected = np.zeros((len(att), heads, n, n))
    for layer, a in enumerate(att):
        w_o = model.bert.encoder.layer[layer].attention.output.dense.weight.detach().numpy()   # (out, in)
        v = values[layer][0].numpy()                                                               # (n, hidden)
        for h in range(heads):
            f = v[:, h * d:(h + 1) * d] @ w_o[:, h * d:(h + 1) * d].T                              # f(x_j), (n, out)
            for i in range(n):
                for j in range(n):
                    expected[layer, h, i, j] = np.linalg.norm(a[0, h, i, j].item() * f[j])
    rel = relevance(model, TEXTS[1], tokenizer=tok, method="value_norm")
    np.testing.assert_allclose(rel.maps[0], expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(rel.scores[0], expected[:, :, 0].mean((0, 1)), rtol=1e-4, atol=1e-7)


def test_a_batch_equals_each_text_alone(bert_classifier):
    model, tok = bert_classifier
    both = relevance(model, TEXTS, tokenizer=tok, batch_size=2)
    for e, text in enumerate(TEXTS):
        alone = relevance(model, text, tokenizer=tok)
        np.testing.assert_allclose(both.scores[e], alone.scores[0], atol=1e-5)
        assert both.tokens[e] == alone.tokens[0]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("method", ["chefer", "grad_attention", "value_norm"])
def test_decoders_explain_the_next_token(family, method):
    model, tok = tiny_model(family, head="lm", initializer_range=0.3)
    rel = relevance(model, TEXTS, tokenizer=tok, method=method)
    enc = tok(TEXTS[0], return_tensors="pt")
    with torch.no_grad():
        predicted = int(model(**enc).logits[0, -1].argmax())
    assert rel.targets[0] == predicted and rel.task == "lm"
    assert rel.positions == [len(t) - 1 for t in rel.tokens]
    n = len(rel.tokens[0])
    assert rel.maps[0].shape == (2, 1 if method == "chefer" else 4, n, n)
    causal = np.triu(np.ones((n, n), bool), 1)
    assert np.all(rel.maps[0][:, :, causal] == 0) if method != "chefer" else np.allclose(rel.maps[0][-1][0][causal], 0)
    assert np.abs(rel.scores[0]).max() > 0
    given = relevance(model, TEXTS[0], tokenizer=tok, method=method, target=7)
    assert given.targets == [7]


def test_chefer_on_a_decoder_equals_eager_autograd():
    """Llama (GQA): the last row of R from output_attentions=True eager weights and their gradients."""
    model, tok = tiny_model("llama", head="lm", initializer_range=0.3)
    model.set_attn_implementation("eager")
    try:
        out = model(**tok(TEXTS[0], return_tensors="pt"), output_attentions=True)
        target = int(out.logits[0, -1].argmax())
        grads = torch.autograd.grad(out.logits[0, -1, target], out.attentions)
        n = out.attentions[0].shape[-1]
        r = torch.eye(n)
        for a, g in zip(out.attentions, grads, strict=True):
            r = r + (g[0] * a[0]).clamp(min=0).mean(0) @ r
    finally:
        model.set_attn_implementation("sdpa")
    rel = relevance(model, TEXTS[0], tokenizer=tok)
    np.testing.assert_allclose(rel.scores[0], r[-1].detach().numpy(), atol=1e-5)


def test_errors_name_the_fix():
    model, tok = tiny_model("bert")
    with pytest.raises(ValueError, match="sequence classifier"):
        relevance(model, "a", tokenizer=tok)
    model, tok = tiny_model("bert", head="sequence-classification")
    with pytest.raises(ValueError, match="method="):
        relevance(model, "a", tokenizer=tok, method="lrp")
    with pytest.raises(ValueError, match="one per text"):
        relevance(model, ["a", "b"], tokenizer=tok, target=[0])


def test_round_trip_table_top_and_capture(bert_classifier, tmp_path):
    model, tok = bert_classifier
    rel = relevance(model, TEXTS, tokenizer=tok, method="grad_attention")
    assert Relevance.from_dict(rel.to_dict()) == rel
    assert Relevance.load(rel.save(tmp_path / "r.json")) == rel
    frame = rel.to_frame()
    assert len(frame) == sum(len(t) for t in rel.tokens)
    top = rel.top(3, example=0)
    order = np.argsort(-rel.scores[0])
    kept = [int(i) for i in order if not rel.special[0][i] and i != rel.positions[0]]
    assert [t["position"] for t in top] == kept[:3]
    cap = rel.as_capture()
    assert isinstance(cap, attnviz.Capture) and cap.extra["values"] == "relevance:grad_attention"
    ax = attnviz.plot.token_heatmap(cap, layer=1, head=2)
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), rel.maps[0][1, 2], rtol=1e-6)
    assert [t.get_text() for t in ax.get_xticklabels()] == rel.tokens[0]
    assert attnviz.plot.head_grid(cap).axes.shape == (2, 4)                  # per head: a grid of heads
    chefer = relevance(model, TEXTS[0], tokenizer=tok).as_capture()
    assert attnviz.plot.head_grid(chefer).axes.shape == (2, 1)               # chefer: one map per layer


def test_value_norm_with_grouped_query_attention_equals_a_hand_computation():
    """Llama with 4 query heads sharing 2 key-value heads: head h reads value head h // 2."""
    model, tok = tiny_model("llama", head="lm", initializer_range=0.3)
    assert model.config.num_key_value_heads < model.config.num_attention_heads
    enc = tok(TEXTS[1], return_tensors="pt")
    layers = model.model.layers
    att, values = eager_attentions_and_values(model, enc, [layer.self_attn.v_proj for layer in layers])
    heads, kv = model.config.num_attention_heads, model.config.num_key_value_heads
    d = model.config.hidden_size // heads
    n = enc["input_ids"].shape[1]
    expected = np.zeros((len(att), heads, n, n))
    for layer, a in enumerate(att):
        w_o = layers[layer].self_attn.o_proj.weight.detach().numpy()
        v = values[layer][0].numpy()                                   # (n, kv * d)
        for h in range(heads):
            g = h // (heads // kv)
            f = v[:, g * d:(g + 1) * d] @ w_o[:, h * d:(h + 1) * d].T
            expected[layer, h] = a[0, h].numpy() * np.linalg.norm(f, axis=-1)[None, :]
    rel = relevance(model, TEXTS[1], tokenizer=tok, method="value_norm")
    np.testing.assert_allclose(rel.maps[0], expected, rtol=1e-4, atol=1e-6)


def test_as_capture_parts_of_signed_maps():
    signed = np.array([[[[0.5, -0.25], [-1.0, 0.0]]]], dtype=np.float32)
    rel = Relevance("grad_attention", [["a", "b"]], [np.array([0.2, -0.8])], [signed])
    assert np.array_equal(rel.as_capture()[0].attentions, signed)
    assert np.array_equal(rel.as_capture(part="abs")[0].attentions, np.abs(signed))
    assert np.array_equal(rel.as_capture(part="positive")[0].attentions, [[[[0.5, 0], [0, 0]]]])
    assert np.array_equal(rel.as_capture(part="negative")[0].attentions, [[[[0, 0.25], [1.0, 0]]]])
    assert rel.as_capture(part="abs").extra["values"] == "relevance:grad_attention:abs"
    with pytest.raises(ValueError, match="part='square'"):
        rel.as_capture(part="square")
