"""The metric registry: a user statistic runs in head_stats, dataset_stats (local, Ray) and `attnviz stats`;
the built-in induction score; one entropy."""
from __future__ import annotations

import json

import numpy as np
import pytest

import attnviz
from attnviz.metrics import (
    dataset_stats,
    head_stats,
    register_metric,
    registered_metrics,
    unregister_metric,
)
from attnviz.metrics.roles import induction_keys

TEXTS = ["the cat sat on the mat. the cat", "a dog barked", "one two three one two three", "ok"]


def last_token(att, tokens):
    """Attention on the last token, mean over queries; undefined on one-token texts."""
    if len(tokens) < 2:
        return None
    return att[..., -1].mean(axis=-1)


def _manual_last(cap):
    vals = [ex.attentions[..., -1].mean(-1) for ex in cap if len(ex.tokens) >= 2]
    return np.mean(vals, axis=0)


@pytest.fixture
def registered():
    register_metric("last", last_token, "(1/n) sum_i A[i, n-1]", label="attention to the last token")
    yield "last"
    unregister_metric("last")


def test_a_registered_statistic_runs_in_head_stats_and_dataset_stats(tiny_bert, registered):
    cap = attnviz.extract(tiny_bert[0], TEXTS, tokenizer=tiny_bert[1])
    stats = head_stats(cap)                                      # metrics=None includes it
    assert "last" in stats.metrics
    np.testing.assert_allclose(stats.values["last"], _manual_last(cap), atol=1e-6)
    streamed = dataset_stats(tiny_bert[0], TEXTS, batch_size=3, metrics=["last", "cls"], progress=False, tokenizer=tiny_bert[1])
    np.testing.assert_allclose(streamed.values["last"], stats.values["last"], atol=1e-5)
    assert streamed.counts["last"] == len(TEXTS)
    assert stats.plot("last").get_title().startswith("attention to the last token")


def test_built_in_and_registered_statistics_are_one_record(registered):
    from attnviz.metrics import METRICS, Metric
    from attnviz.metrics.definitions import describe, label, metric

    mine, builtin = metric("last"), metric("cls")
    assert isinstance(mine, Metric) and isinstance(builtin, Metric) and builtin is METRICS["cls"]
    assert (mine.fn, mine.builtin, builtin.fn, builtin.builtin) == (last_token, False, None, True)
    assert (describe("last"), label("last")) == ("(1/n) sum_i A[i, n-1]", "attention to the last token")
    assert (describe("cls"), label("cls")) == (builtin.description, "attention to [CLS]")
    assert not METRICS["prev"].cross and METRICS["entropy"].cross and metric("nope") is None


def test_registry_refusals(registered):
    with pytest.raises(ValueError, match="built-in"):
        register_metric("cls", last_token, "x")
    with pytest.raises(ValueError, match="already registered"):
        register_metric("last", last_token, "x")
    with pytest.raises(TypeError, match="fn must be a function"):
        register_metric("other", 3, "x")
    with pytest.raises(ValueError, match="register_metric"):
        model, tok = __import__("attnviz.testing").testing.tiny_model("bert")
        head_stats(attnviz.extract(model, "a b", tokenizer=tok),
                   metrics=["nope"])
    with pytest.raises(ValueError, match="cross-attention"):
        attnviz.metrics.definitions.check_metrics(["last"], kind="cross")
    assert set(registered_metrics()) == {"last"}


def test_undefined_examples_are_skipped(tiny_gpt2):
    register_metric("never", lambda att, tokens: None if len(tokens) < 4 else np.full(att.shape[:2], np.nan),
                    "always undefined")
    try:
        stats = head_stats(attnviz.extract(tiny_gpt2[0], ["a b", "a b c d e"], tokenizer=tiny_gpt2[1]), metrics=["never"])
        assert stats.counts["never"] == 0 and np.isnan(stats.values["never"]).all()
    finally:
        unregister_metric("never")


def test_induction_keys_follow_olsson():
    # query 3 ("a") last saw "a" at 0: key 1 ("b"); query 4 ("b") -> key 2; "b b" has no key but itself
    assert induction_keys(["a", "b", "c", "a", "b", "b"]).tolist() == [-1, -1, -1, 1, 2, -1]
    assert (induction_keys(["x", "y", "z"]) == -1).all()


def test_induction_on_a_perfect_induction_map():
    import torch

    from attnviz.metrics.kernel import batch_values, token_batch
    from attnviz.metrics.roles import token_roles

    tokens = ["p", "a", "b", "c", "a", "b", "c"]
    keys = induction_keys(tokens)
    att = np.eye(len(tokens), dtype=np.float32)
    for i, k in enumerate(keys):
        if k >= 0:
            att[i] = 0
            att[i, k] = 1
    tb = token_batch([token_roles(tokens, [False] * 7), token_roles(["u", "v"], [False] * 2)], [0, 0], 7)
    a = torch.zeros((2, 1, 1, 7, 7))
    a[0, 0, 0] = torch.from_numpy(att)
    a[1, 0, 0, :2, :2] = 0.5
    values, valid = batch_values(a, tb, ["induction"])["induction"]
    assert values[0, 0, 0] == pytest.approx(1.0) and valid.tolist() == [True, False]


def test_induction_in_head_stats_equals_the_gallery_score(tiny_gpt2):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[2] / "gallery"))
    import tiny_gpt2 as gallery

    cap = attnviz.extract(tiny_gpt2[0], ["the cat the cat sat", "a b c a b c d", "xyz"], tokenizer=tiny_gpt2[1])
    assert len(set(cap[2].tokens)) == len(cap[2].tokens)
    stats = head_stats(cap, metrics="induction")
    assert stats.counts["induction"] == 2                      # "xyz" repeats nothing: skipped
    want = np.mean([gallery._example_scores(cap[i])["induction"] for i in (0, 1)], axis=0)
    np.testing.assert_allclose(stats.values["induction"], want, atol=1e-6)


def test_one_entropy_compare_agrees_with_head_stats(bert_capture):
    from attnviz.comparison.stats import statistics

    got = statistics(bert_capture, bert_capture)["entropy_before"]
    np.testing.assert_allclose(got, head_stats(bert_capture, metrics="entropy").values["entropy"], atol=1e-5)


def test_cli_stats_loads_a_plugin(tmp_path, capsys):
    from attnviz.cli import main
    from attnviz.testing import save_tiny_model

    model = save_tiny_model("bert", tmp_path / "bert")
    plugin = tmp_path / "my_metrics.py"
    plugin.write_text("import attnviz\n"
                      "def first_max(att, tokens):\n"
                      "    return att[..., 0].max(axis=-1)\n"
                      "attnviz.metrics.register_metric('first_max', first_max, 'max_i A[i, 0]', overwrite=True)\n")
    try:
        argv = ["stats", "--model", str(model), "--text", "a cat sat", "--out", str(tmp_path / "s"),
                "--metrics", "first_max,cls", "--maps", "first_max", "--plugin", str(plugin)]
        assert main(argv) == 0
        doc = json.loads((tmp_path / "s" / "head_stats.json").read_text())
        assert doc["metrics"]["first_max"] == "max_i A[i, 0]"
        assert (tmp_path / "s" / "first_max.png").is_file()
    finally:
        unregister_metric("first_max")
