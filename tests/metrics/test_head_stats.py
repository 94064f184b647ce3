"""head_stats on hand-built maps (exact values from the definitions) and on tiny models."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

import attnviz
from attnviz.capture import Capture, Example
from attnviz.metrics import HeadStats, head_stats

BERT_TOKENS = ["[CLS]", "the", "cat", "sat", ",", "on", "mats", ".", "[SEP]"]


def capture_of(*maps: np.ndarray, tokens=BERT_TOKENS, special=None) -> Capture:
    """A capture of hand-built (layer, head, n, n) maps, one example each."""
    special = special if special is not None else [t.startswith("[") for t in tokens]
    examples = [Example(tokens=list(tokens), special_mask=list(special), attentions=m.astype(np.float32))
                for m in maps]
    layers, heads = maps[0].shape[:2]
    return Capture(examples, layers=list(range(layers)), heads=list(range(heads)), num_layers=layers,
                   num_heads=heads)


def uniform(n: int) -> np.ndarray:
    return np.full((1, 1, n, n), 1.0 / n)


def previous_token(n: int) -> np.ndarray:
    m = np.zeros((n, n))
    m[0, 0] = 1.0
    m[np.arange(1, n), np.arange(n - 1)] = 1.0
    return m[None, None]


def one(stats: HeadStats, metric: str) -> float:
    return float(stats.values[metric][0, 0])


def test_uniform_attention_has_entropy_ln_n_and_cls_share_one_over_n():
    n = len(BERT_TOKENS)
    stats = head_stats(capture_of(uniform(n)))
    assert one(stats, "entropy") == pytest.approx(math.log(n), abs=1e-6)
    assert one(stats, "entropy_norm") == pytest.approx(1.0, abs=1e-6)
    assert one(stats, "cls") == pytest.approx(1 / n)
    assert one(stats, "sep") == pytest.approx(1 / n)
    assert one(stats, "punct") == pytest.approx(2 / n)  # "," and "."
    assert one(stats, "confidence") == pytest.approx(1 / n)
    assert one(stats, "prev") == pytest.approx((n - 1) / n ** 2)
    # mean |i - j| over a uniform row: sum over all pairs / n^2
    i, j = np.meshgrid(np.arange(n), np.arange(n))
    assert one(stats, "distance") == pytest.approx(np.abs(i - j).sum() / n ** 2)


def test_one_hot_previous_token_map_scores_n_minus_1_over_n():
    n = len(BERT_TOKENS)
    stats = head_stats(capture_of(previous_token(n)))
    assert one(stats, "prev") == pytest.approx((n - 1) / n)
    assert one(stats, "next") == pytest.approx(0.0)
    assert one(stats, "confidence") == pytest.approx(1.0)
    assert one(stats, "distance") == pytest.approx((n - 1) / n)
    assert one(stats, "entropy") < 0.01


def test_one_hot_next_token_map():
    n = 6
    m = np.zeros((n, n))
    m[np.arange(n - 1), np.arange(1, n)] = 1.0
    m[n - 1, n - 1] = 1.0
    stats = head_stats(capture_of(m[None, None], tokens=["[CLS]", "a", "b", "c", "d", "[SEP]"]))
    assert one(stats, "next") == pytest.approx((n - 1) / n)
    assert one(stats, "sep") == pytest.approx(2 / n)  # query 4 -> [SEP], query 5 -> itself


def test_sentence_pair_counts_both_sep_tokens():
    tokens = ["[CLS]", "good", "[SEP]", "bad", "[SEP]"]
    stats = head_stats(capture_of(uniform(5), tokens=tokens))
    assert one(stats, "sep") == pytest.approx(2 / 5)
    assert one(stats, "block") == pytest.approx(1 / 5)  # each word sees its own segment's one plain token


def test_models_without_cls_sep_use_first_and_last_token():
    tokens = ["Hello", "world", "again"]
    n = 3
    m = np.zeros((1, 1, n, n))
    m[0, 0, :, -1] = 1.0
    stats = head_stats(capture_of(m, tokens=tokens, special=[False] * 3))
    assert one(stats, "sep") == pytest.approx(1.0)
    assert one(stats, "cls") == pytest.approx(0.0)


def test_sink_score_leaves_out_the_first_query():
    n = 4
    causal = np.tril(np.ones((n, n)))
    causal /= causal.sum(1, keepdims=True)
    stats = head_stats(capture_of(causal[None, None], tokens=list("abcd"), special=[False] * 4))
    expected = np.mean([1 / 2, 1 / 3, 1 / 4])
    assert one(stats, "sink") == pytest.approx(expected)
    assert one(stats, "cls") == pytest.approx((1 + 1 / 2 + 1 / 3 + 1 / 4) / 4)


def test_mean_and_std_over_examples_and_labels_of_a_subset():
    n = len(BERT_TOKENS)
    maps = [np.stack([np.stack([uniform(n)[0, 0], previous_token(n)[0, 0]])] * 2) for _ in range(2)]
    maps[1] = maps[1][:, ::-1].copy()  # swap the heads in the second example
    cap = capture_of(*maps)
    cap.layers, cap.heads = [3, 5], [2, 7]
    stats = head_stats(cap, metrics=["prev", "cls"])
    per_example = np.array([[1 / n ** 2 * (n - 1), (n - 1) / n], [(n - 1) / n, (n - 1) / n ** 2]])
    np.testing.assert_allclose(stats.values["prev"][0], per_example.mean(0), rtol=1e-6)
    np.testing.assert_allclose(stats.std["prev"][0], per_example.std(0), rtol=1e-5)
    assert stats.layers == [3, 5] and stats.heads == [2, 7]
    assert {(r["layer"], r["head"]) for r in stats.to_records()} == {(3, 2), (3, 7), (5, 2), (5, 7)}


def test_tiny_bert_values_are_shares_and_patterns_are_known_types(bert_capture):
    stats = head_stats(bert_capture)
    assert stats.values["cls"].shape == (len(bert_capture.layers), len(bert_capture.heads))
    for metric in ("cls", "sep", "punct", "prev", "next", "confidence", "entropy_norm", "vertical", "diagonal"):
        assert np.all((stats.values[metric] >= -1e-6) & (stats.values[metric] <= 1 + 1e-6)), metric
    assert set(stats.patterns().ravel()) <= set(attnviz.metrics.PATTERNS)
    assert stats.num_examples == len(bert_capture)


def test_decoder_and_cross_attention_of_t5(t5_capture):
    dec = head_stats(t5_capture, kind="decoder")
    cross = head_stats(t5_capture, kind="cross")
    assert dec.layers == t5_capture.decoder_layers
    assert "prev" in dec.metrics and "prev" not in cross.metrics
    # a causal decoder's first query puts all its attention on the first token
    assert np.all(dec.values["cls"] > 1 / 3)
    with pytest.raises(ValueError, match="cross"):
        head_stats(t5_capture, kind="cross", metrics=["prev"])


def test_records_table_csv_and_json(tmp_path, bert_capture):
    stats = head_stats(bert_capture, metrics=["cls", "block"])
    rows = stats.to_records()
    assert len(rows) == stats.records_count == 2 * len(stats.layers) * len(stats.heads)
    np.testing.assert_equal(stats.to_table()["value"], [r["value"] for r in rows])
    text = stats.to_csv(tmp_path / "s.csv").read_text().splitlines()
    assert text[0] == "layer,head,metric,value,std,count" and len(text) == len(rows) + 1
    # block is undefined on one-sentence texts: an empty cell in CSV, null in JSON
    assert all(line.split(",")[3] == "" for line in text[1:] if ",block," in line)
    doc = json.loads(stats.to_json(tmp_path / "s.json").read_text())
    assert doc["records"][0]["value"] == pytest.approx(rows[0]["value"])
    assert doc["metrics"]["cls"].startswith("Clark et al. 2019")
    assert {r["value"] for r in doc["records"] if r["metric"] == "block"} == {None}
    frame = stats.to_frame()
    assert list(frame.columns) == ["layer", "head", "metric", "value", "std", "count"]


def test_top_lists_heads_by_value():
    values = np.array([[0.1, 0.9], [0.5, np.nan]])
    stats = HeadStats({"sep": values}, {"sep": np.zeros((2, 2))}, {"sep": 1}, layers=[0, 1], heads=[0, 1],
                      num_examples=1)
    assert [(h.layer, h.head, h.value) for h in stats.top(5, by="sep")] == [(0, 1, 0.9), (1, 0, 0.5), (0, 0, 0.1)]
    assert stats.top(1, by="sep", lowest=True)[0].value == 0.1
    assert stats.top(None, by="sep") == stats.top(by="sep") == stats.top()  # one statistic: by= may go
    with pytest.raises(KeyError, match="including it in metrics"):
        stats.top(1, by="cls")


def test_plot_draws_the_values_with_head_summary(bert_capture):
    stats = head_stats(bert_capture, metrics=["sep"])
    ax = stats.plot("sep")
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), stats.values["sep"])
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(h) for h in stats.heads]
    assert "[SEP]" in ax.get_title()


def test_bad_inputs_name_the_fix(bert_capture):
    with pytest.raises(ValueError, match="unknown statistic 'clss'"):
        head_stats(bert_capture, metrics=["clss"])
    with pytest.raises(ValueError, match="unknown attention kind"):
        head_stats(bert_capture, kind="sideways")
    with pytest.raises(TypeError, match="attnviz.extract"):
        head_stats([np.zeros((1, 1, 2, 2))])
    with pytest.raises(ValueError, match="no attention maps"):
        head_stats(Capture([Example(tokens=["a"])]))
