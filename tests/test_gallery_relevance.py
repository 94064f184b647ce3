"""gallery/relevance_reviews.py: the top-3 sentiment-word share of each method, and (slow) the measured
shares on MiniLM fine-tuned on the shipped reviews."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "gallery" / "relevance_reviews.py"  # the `gallery` fixture (tests/conftest.py) imports it


def test_top_tokens_skip_special_tokens(gallery):
    assert gallery.top_tokens(np.array([9.0, 1.0, 3.0, 2.0]), ["[CLS]", "a", "good", "film"],
                              [True, False, False, False], n=2) == ["good", "film"]


def test_shares_count_sentiment_words_in_each_top_three(gallery):
    m = gallery.METHODS
    text = {"tokens": ["[CLS]", "a", "good", "film", "and", "dull"], "special": [True] + [False] * 5,
            m[0]: np.array([5, 0, 3, 2, 0, 4.0]), m[1]: np.array([5, 4, 0, 3, 2, 0.0]), m[2]: np.zeros(6)}
    got = gallery.shares([text], {"good", "dull"})
    assert got[m[0]] == pytest.approx(2 / 3) and got[m[1]] == 0.0
    assert got["chance"] == pytest.approx(2 / 5) and got["ceiling"] == pytest.approx(2 / 3)


@pytest.mark.slow
def test_measured_shares_on_the_fine_tuned_minilm(gallery, reviews_minilm, tmp_path, capsys, monkeypatch):
    """Measures the session's fine-tune (the script finds it in its cache folder instead of
    ATTNVIZ_GALLERY_CACHE or ~/.cache/attnviz/gallery, so it fine-tunes nothing here).

    Measured (2 epochs, seed 0): chefer 0.285, raw attention 0.293, rollout 0.146, chance 0.109,
    ceiling 0.338. Relevance does not beat raw attention here, so that is not asserted; both beat
    chance and rollout."""
    monkeypatch.setattr(gallery, "CACHE", reviews_minilm.output_dir.parent)
    measured = gallery.main(["--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert f"fine-tuned checkpoint: {reviews_minilm.best_checkpoint}" in printed and "fine-tuned: {" not in printed
    m = gallery.METHODS
    for name in (*m, "chance", "ceiling"):
        assert f"{name}: {measured[name]:.3f}" in printed and 0.0 <= measured[name] <= 1.0
    assert (tmp_path / "minilm_relevance.png").stat().st_size > 0
    assert measured[m[0]] > measured["chance"] and measured[m[1]] > measured["chance"]
    assert measured[m[0]] > measured[m[2]]
    assert max(measured[k] for k in m) <= measured["ceiling"]
