"""knockout_map and head_patching: batched interventions against one-at-a-time runs, edge cases, round trips."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from attnviz.extraction.intervene import intervene
from attnviz.metrics import HeadPatching, KnockoutMap, head_patching, knockout_map
from attnviz.testing import tiny_model

TEXTS = ["the cat sat on the mat", "a dog ran home", "the bird flew over the tall tree today"]


def _prob(model, ids, position, token, block=None):
    with torch.no_grad(), intervene(model, block=block or {}):
        logits = model(input_ids=torch.tensor([ids])).logits[0, position]
    return float(logits.softmax(-1)[token])


@pytest.mark.parametrize("window", [1, 2])
def test_knockout_map_equals_one_intervention_at_a_time(window):
    model, tok = tiny_model("gpt2", head="lm")
    km = knockout_map(model, TEXTS, tokenizer=tok, window=window, batch_size=5)
    assert km.change.shape == (3, 2 - window + 1)
    for t, text in enumerate(TEXTS):
        ids = tok(text)["input_ids"]
        last = len(ids) - 1
        with torch.no_grad():
            token = int(model(input_ids=torch.tensor([ids])).logits[0, last].argmax())
        p = _prob(model, ids, last, token)
        assert km.base_prob[t] == pytest.approx(p, rel=1e-5) and km.targets[t] == last
        for w, layers in enumerate(km.windows):
            q = _prob(model, ids, last, token, {(l, None): [(last, k) for k in range(last)] for l in layers})
            assert km.change[t, w] == pytest.approx((q - p) / p, rel=1e-4, abs=1e-6)
    assert np.abs(km.change).max() > 1e-3


def test_knockout_map_classifier_and_sources():
    model, tok = tiny_model("bert", head="sequence-classification")
    km = knockout_map(model, TEXTS[:2], tokenizer=tok, sources=[1, 2])
    assert km.task == "classification" and km.targets == [0, 0] and km.predicted[0] in ("negative", "positive")
    assert km.change.shape == (2, 2)
    assert np.abs(km.change).max() > 0
    with pytest.raises(ValueError, match="window"):
        knockout_map(model, TEXTS[:1], tokenizer=tok, window=3)
    with pytest.raises(ValueError, match="sources"):
        knockout_map(model, TEXTS[:1], tokenizer=tok, sources="nothing")


def test_knockout_map_round_trip_frame_top(tmp_path):
    model, tok = tiny_model("gpt2", head="lm")
    km = knockout_map(model, TEXTS[:2], tokenizer=tok)
    back = KnockoutMap.load(km.save(tmp_path / "k.json"))
    assert back == km and KnockoutMap.from_dict(km.to_dict()) == km
    frame = km.to_frame()
    assert len(frame) == 4 and set(frame.columns) >= {"text", "window", "change"}
    assert km.top(1)[0]["mean_change"] == pytest.approx(float(km.change.mean(0).min()))
    ax = km.plot()
    assert np.allclose(ax.lines[0].get_ydata(), 100 * km.change.mean(0))


def test_head_patching_clean_equals_corrupt_is_zero():
    model, tok = tiny_model("gpt2", head="lm")
    hp = head_patching(model, TEXTS[:2], TEXTS[:2], tokenizer=tok, answers=[("the", "a")] * 2)
    assert hp.recovered.shape == (2, 4)
    assert (hp.recovered == 0).all() and hp.all_heads == 0
    assert hp.patched == pytest.approx(np.full((2, 4), hp.clean_metric), abs=1e-4)


@pytest.mark.parametrize("family, head", [("gpt2", "lm"), ("bert", "sequence-classification")])
def test_head_patching_every_head_of_every_layer_recovers_one(family, head):
    model, tok = tiny_model(family, head=head)
    clean, corrupt = ["the cat sat on the mat"], ["the dog sat on the mat"]
    answers = [("mat", "the")] if head == "lm" else None
    hp = head_patching(model, clean, corrupt, tokenizer=tok, what="output", answers=answers)
    assert abs(hp.clean_metric - hp.corrupt_metric) > 1e-6
    assert hp.all_heads == pytest.approx(1.0, abs=1e-3)
    single = head_patching(model, clean, corrupt, tokenizer=tok, what="pattern", answers=answers)
    assert np.isfinite(single.recovered).all() and np.abs(single.recovered).max() > 0


def test_head_patching_round_trip_and_errors(tmp_path):
    model, tok = tiny_model("gpt2", head="lm")
    hp = head_patching(model, ["the cat sat"], ["the dog sat"], tokenizer=tok, answers=[("sat", "the")])
    assert HeadPatching.load(hp.save(tmp_path / "p.json")) == hp
    assert len(hp.to_frame()) == 8 and hp.top(2)[0]["recovered"] == float(hp.recovered.max())
    ax = hp.plot()
    assert np.allclose(np.asarray(ax.images[0].get_array()), hp.recovered)
    with pytest.raises(ValueError, match="same positions"):
        head_patching(model, ["the cat sat"], ["the cat sat on the mat"], tokenizer=tok)
    with pytest.raises(ValueError, match="metric"):
        head_patching(model, ["the cat"], ["the dog"], tokenizer=tok, metric="label_prob")


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_scores_keep_only_the_asked_positions_and_equal_the_full_logits(family):
    """_scores asks the model for the logits of the rows' positions only (logits_to_keep, no cache):
    the same numbers as the full logits at those positions, rows of different lengths included."""
    import torch

    from attnviz.metrics.causal import _padded, _scores
    from attnviz.modeling import forward_parameters

    model, tok = tiny_model(family, head="lm")
    rows = [tok(t)["input_ids"] for t in ["the cat sat on the mat", "a dog", "the bird sang a song today"]]
    batch = _padded(rows, 0, "cpu")
    positions = [len(r) - 1 for r in rows]
    with torch.no_grad():
        full = model(**batch).logits
        got = _scores(model, batch, "lm", positions, forward_parameters(model))
    assert got.shape == (3, full.shape[-1])
    torch.testing.assert_close(got, full[torch.arange(3), torch.tensor(positions)], atol=1e-5, rtol=1e-5)
