"""Noise around a comparison: bootstrap intervals, the seed baseline, the training trajectory."""
from __future__ import annotations

import json

import numpy as np
import pytest

import attnviz
from attnviz.comparison.noise import bootstrap_intervals, per_example, trajectory
from attnviz.testing import tiny_model

TEXTS = ["the cat sat on the mat", "a dog barked", "hello world", "the film was great", "a slow plot"]


@pytest.fixture(scope="module")
def caps():
    pairs = [tiny_model("bert", seed=s) for s in (0, 1, 2)]
    return [attnviz.extract(model, TEXTS, tokenizer=tok) for model, tok in pairs]


def test_per_example_means_are_what_compare_reports(caps):
    comp = attnviz.compare(caps[0], caps[1])
    pe = per_example(caps[0], caps[1])
    np.testing.assert_allclose(pe["cosine"].mean(0), comp.cosine, atol=1e-12)
    np.testing.assert_allclose(pe["js"].mean(0), comp.js, atol=1e-12)
    np.testing.assert_allclose(pe["entropy_change"].mean(0), comp.entropy_change, atol=1e-12)


def test_bootstrap_intervals_cover_the_mean_and_are_reproducible(caps):
    comp = attnviz.compare(caps[0], caps[1], bootstrap=1000, level=0.95, seed=0)
    low, high = comp.intervals["change"][..., 0], comp.intervals["change"][..., 1]
    assert (low <= comp.change + 1e-12).all() and (comp.change <= high + 1e-12).all() and (low < high).all()
    again = attnviz.compare(caps[0], caps[1], bootstrap=1000, level=0.95, seed=0)
    np.testing.assert_array_equal(again.intervals["change"], comp.intervals["change"])
    narrow = attnviz.compare(caps[0], caps[1], bootstrap=1000, level=0.5, seed=0).intervals["change"]
    assert ((narrow[..., 1] - narrow[..., 0]) <= (high - low) + 1e-12).all()
    # the percentile interval of a plain resampling loop
    pe = per_example(caps[0], caps[1])["change"][:, 0, 0]
    rng = np.random.default_rng(1)
    means = [pe[rng.integers(0, len(pe), len(pe))].mean() for _ in range(4000)]
    assert np.quantile(means, 0.025) == pytest.approx(low[0, 0], abs=0.01 + 0.1 * (high[0, 0] - low[0, 0]))
    d = comp.to_dict()
    assert d["intervals"]["n"] == 1000 and np.array(d["intervals"]["change"]).shape == (2, 4, 2)
    assert {"change_low", "change_high"} <= set(comp.to_frame().columns)



def test_non_finite_values_become_json_null(caps):
    comp = attnviz.compare(caps[0], caps[1], bootstrap=10)
    comp.intervals["change"][0, 0, 0] = np.nan
    text = json.dumps(comp.to_dict(), allow_nan=False)
    assert json.loads(text)["intervals"]["change"][0][0][0] is None


def test_seed_baseline_flags_heads_that_changed_beyond_the_seed_noise(caps):
    before, after, other = caps
    comp = attnviz.compare(before, after, baseline=other)
    np.testing.assert_allclose(comp.noise, attnviz.compare(after, other).change)
    np.testing.assert_array_equal(comp.flagged, comp.change > comp.noise)
    # the same model as baseline: zero noise, every changed head flagged
    same = attnviz.compare(before, after, baseline=after)
    assert np.abs(same.noise).max() < 1e-6 and same.flagged.all()
    strict = attnviz.compare(before, after, baseline=other, bootstrap=200)
    assert (strict.flagged <= comp.flagged).all()          # the lower bound is stricter
    rows = strict.top(None)
    assert {"noise", "flagged", "change_low"} <= set(rows[0])
    assert strict.to_dict()["seed_baseline"]["flagged"] == strict.flagged.tolist()


def test_trajectory_per_layer_over_epochs(caps, tmp_path):
    t = trajectory([caps[0], caps[0], caps[1]], epochs=[0, 1, 2])
    assert t.layer_change.shape == (3, 2) and np.abs(t.layer_change[:2]).max() < 1e-6
    np.testing.assert_allclose(t.layer_change[2], attnviz.compare(caps[0], caps[1]).change.mean(1))
    paths = t.save_with_figure(tmp_path)
    assert [p.name for p in paths] == ["trajectory.json", "trajectory.png"]
    assert json.loads(paths[0].read_text())["epochs"] == [0, 1, 2]
    ax = t.plot()
    assert [line.get_label() for line in ax.lines] == ["layer 0", "layer 1"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), t.layer_change[:, 1])
    with pytest.raises(ValueError, match="at least two"):
        trajectory([caps[0]])


def test_bootstrap_refusals():
    with pytest.raises(ValueError, match="level"):
        bootstrap_intervals({"change": np.zeros((2, 1, 1))}, level=1.5)


def test_summary_lists_intervals_and_heads_beyond_seed_noise(caps):
    comp = attnviz.compare(caps[0], caps[1], baseline=caps[2], bootstrap=50)
    text = comp.summary(top=3)
    assert "Bootstrap intervals of 1 - cosine (95%, 50 resamples" in text
    assert f"Changed beyond the seed-to-seed change: {int(comp.flagged.sum())} of 8 heads" in text
