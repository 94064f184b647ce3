"""attnviz.compare: statistics against hand computations, mismatch checks, tables and files."""
from __future__ import annotations

import json

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example
from attnviz.comparison import CaptureMismatchError, Comparison, check_same
from attnviz.testing import save_tiny_model, tiny_model


def _capture(maps: list[np.ndarray], tokens: list[list[str]] | None = None, hidden=None) -> Capture:
    tokens = tokens or [[f"t{i}" for i in range(m.shape[-1])] for m in maps]
    examples = [Example(tokens=t, attentions=m.astype("float32"), text=" ".join(t),
                        hidden_states=None if hidden is None else hidden[i])
                for i, (t, m) in enumerate(zip(tokens, maps, strict=True))]
    layers, heads = maps[0].shape[:2]
    return Capture(examples, num_layers=layers, num_heads=heads, layers=list(range(layers)), heads=list(range(heads)))


def _rows(rng, shape):
    x = rng.random(shape) + 0.05
    return x / x.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def pair():
    """Two tiny BERTs with different random weights, captured on the same texts."""
    texts = ["the cat sat on the mat", "a dog", "this movie was wonderful"]
    (m0, t0), (m1, t1) = tiny_model("bert", seed=0), tiny_model("bert", seed=1)
    a = attnviz.extract(m0, texts, tokenizer=t0)
    b = attnviz.extract(m1, texts, tokenizer=t1)
    return a, b


def test_identical_captures_give_cosine_one_and_js_zero(bert_capture):
    comp = attnviz.compare(bert_capture, bert_capture)
    np.testing.assert_allclose(comp.cosine, 1.0, atol=1e-6)
    np.testing.assert_allclose(comp.js, 0.0, atol=1e-7)
    np.testing.assert_allclose(comp.entropy_change, 0.0, atol=1e-7)
    np.testing.assert_allclose(comp.hidden_cosine, 1.0, atol=1e-6)
    assert comp.cosine.shape == (bert_capture.num_layers, bert_capture.num_heads)


def test_statistics_match_hand_computation():
    rng = np.random.default_rng(0)
    p = [_rows(rng, (2, 3, 4, 4)), _rows(rng, (2, 3, 6, 6))]
    q = [_rows(rng, (2, 3, 4, 4)), _rows(rng, (2, 3, 6, 6))]
    comp = attnviz.compare(_capture(p), _capture(q))
    cos = np.mean([[[(a[l, h] * b[l, h]).sum() / np.linalg.norm(a[l, h]) / np.linalg.norm(b[l, h])
                     for h in range(3)] for l in range(2)] for a, b in zip(p, q, strict=True)], axis=0)
    np.testing.assert_allclose(comp.cosine, cos, rtol=1e-5)

    def js(x, y):
        m = (x + y) / 2
        return 0.5 * (x * np.log(x / m)).sum(-1) + 0.5 * (y * np.log(y / m)).sum(-1)

    np.testing.assert_allclose(comp.js, np.mean([js(a, b).mean(-1) for a, b in zip(p, q, strict=True)], axis=0), rtol=1e-5)

    def entropy(x):
        s = 0.9999 * x + 0.0001 / x.shape[-1]
        return -(s * np.log(s)).sum(-1).mean(-1)

    np.testing.assert_allclose(comp.entropy_before, np.mean([entropy(a) for a in p], axis=0), rtol=1e-5)
    np.testing.assert_allclose(comp.entropy_change,
                               np.mean([entropy(b) - entropy(a) for a, b in zip(p, q, strict=True)], axis=0), rtol=1e-4)
    np.testing.assert_allclose(comp.layer_cosine, cos.mean(1), rtol=1e-5)
    np.testing.assert_allclose(comp.js_bits, comp.js / np.log(2))


def test_js_of_disjoint_rows_is_ln2_and_causal_zeros_are_fine():
    one_hot_a = np.zeros((1, 1, 2, 2)); one_hot_a[..., 0] = 1
    one_hot_b = np.zeros((1, 1, 2, 2)); one_hot_b[..., 1] = 1
    comp = attnviz.compare(_capture([one_hot_a]), _capture([one_hot_b]))
    assert comp.js[0, 0] == pytest.approx(np.log(2))
    assert comp.cosine[0, 0] == pytest.approx(0.0)


def test_hidden_cosine_per_layer():
    rng = np.random.default_rng(1)
    maps = [_rows(rng, (1, 1, 3, 3))]
    h = rng.normal(size=(2, 3, 5))
    g = h.copy(); g[1] *= -1  # layer 1 flipped: cosine -1; embeddings unchanged
    comp = attnviz.compare(_capture(maps, hidden=[h]), _capture(maps, hidden=[g]))
    np.testing.assert_allclose(comp.hidden_cosine, [1.0, -1.0], atol=1e-6)


def test_ranking_and_tables(pair):
    comp = attnviz.compare(*pair)
    ranked = comp.top(None)
    assert len(ranked) == comp.cosine.size
    changes = [r["change"] for r in ranked]
    assert changes == sorted(changes, reverse=True)
    top = ranked[0]
    i, j = comp.layers.index(top["layer"]), comp.heads.index(top["head"])
    assert top["change"] == pytest.approx(1 - comp.cosine[i, j])
    layer_rows = comp.layer_records()
    assert [r["layer"] for r in layer_rows] == comp.layers and "hidden_cosine" in layer_rows[0]
    text = comp.summary(top=3)
    assert text.count("\n| ") >= len(comp.layers) + 3 and f"| 1 | {top['layer']} | {top['head']} |" in text
    assert len(comp.to_frame()) == comp.cosine.size
    assert "Comparison(" in repr(comp)


def test_models_and_checkpoint_paths(tmp_path, pair):
    texts = [ex.text for ex in pair[0]]
    a = save_tiny_model("bert", tmp_path / "a", seed=0)
    b = save_tiny_model("bert", tmp_path / "b", seed=1)
    from_paths = attnviz.compare(a, b, texts=texts)
    from_captures = attnviz.compare(*pair)
    np.testing.assert_allclose(from_paths.cosine, from_captures.cosine, rtol=1e-5)
    saved = pair[0].save(tmp_path / "before.safetensors")
    mixed = attnviz.compare(saved, b)  # texts come from the saved capture
    np.testing.assert_allclose(mixed.cosine, from_captures.cosine, rtol=1e-5)
    with pytest.raises(ValueError, match="needs texts="):
        attnviz.compare(a, b)


def test_mismatched_texts_name_the_example_and_token():
    model, tok = tiny_model("bert")
    a = attnviz.extract(model, ["a good film", "the cat sat"], tokenizer=tok)
    b = attnviz.extract(model, ["a good film", "the dog sat"], tokenizer=tok)
    with pytest.raises(CaptureMismatchError, match=r"example 1 differs at token 2: before has 'cat', after has 'dog'"):
        attnviz.compare(a, b)
    c = attnviz.extract(model, ["a good film"], tokenizer=tok)
    with pytest.raises(CaptureMismatchError, match="before has 2 example"):
        check_same(a, c)
    d = attnviz.extract(model, ["a good film", "the cat sat on the mat"], tokenizer=tok)
    with pytest.raises(CaptureMismatchError,
                       match=r"example 1 differs at token 4: before has '\[SEP\]', after has 'on'"):
        check_same(a, d)


def test_mismatched_layers_or_heads():
    texts = ["the cat sat"]
    (model, tok), (deep, deep_tok) = tiny_model("bert"), tiny_model("bert", num_hidden_layers=3)
    small = attnviz.extract(model, texts, tokenizer=tok)
    deeper = attnviz.extract(deep, texts, tokenizer=deep_tok)
    with pytest.raises(CaptureMismatchError, match=r"before 2 layers x 4 heads .* after 3 x 4"):
        attnviz.compare(small, deeper)
    some_heads = attnviz.extract(model, texts, tokenizer=tok, heads=[0, 1])
    with pytest.raises(CaptureMismatchError, match="heads 0-3.*heads 0-1"):
        attnviz.compare(small, some_heads)


def test_save_writes_json_markdown_and_figures(tmp_path, pair):
    comp = attnviz.compare(*pair, names=("pretrained", "fine-tuned"))
    written = comp.save(tmp_path / "cmp")
    names = {p.name for p in written}
    assert {"comparison.json", "comparison.md", "change_map.png", "layers.png"} <= names
    assert any(n.startswith("head_L") for n in names)
    record = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    np.testing.assert_allclose(record["cosine"], comp.cosine)
    assert record["before"] == "pretrained" and record["units"]["js"] == "nats"
    assert (tmp_path / "cmp" / "comparison.md").read_text().startswith("# Attention change: pretrained -> fine-tuned")
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in written if p.suffix == ".png")


def test_bad_plot_and_metric_names(bert_capture):
    comp = attnviz.compare(bert_capture, bert_capture)
    with pytest.raises(ValueError, match="view='grid'"):
        comp.plot("grid")
    with pytest.raises(AttributeError, match="kind"):
        comp.plot(kind="layers")  # no longer a name of view=: it reaches matplotlib, which refuses it
    with pytest.raises(ValueError, match="unknown metric"):
        comp.metric("bleu")
    assert isinstance(comp, Comparison)
    import attnviz.comparison as module

    assert attnviz.compare is module.compare
