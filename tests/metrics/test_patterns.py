"""Kovaleva et al.'s pattern types from hand-built maps, and the threshold rules."""
from __future__ import annotations

import numpy as np
import pytest

from attnviz.capture import Capture, Example
from attnviz.metrics import PATTERNS, PatternThresholds, classify_patterns, head_stats
from attnviz.metrics.patterns import classify_pattern

# two sentences, so the block score is defined
TOKENS = ["[CLS]", "the", "film", "was", "long", ".", "i", "liked", "it", "a", "lot", ".", "[SEP]"]
N = len(TOKENS)
SEGMENT = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2])
PLAIN = np.array([not t.startswith("[") for t in TOKENS])


def normalise(m: np.ndarray) -> np.ndarray:
    return m / m.sum(1, keepdims=True)


def vertical() -> np.ndarray:
    m = np.full((N, N), 0.01)
    m[:, 0] += 1.0
    return normalise(m)


def diagonal() -> np.ndarray:
    m = np.full((N, N), 0.01)
    m[np.arange(1, N), np.arange(N - 1)] += 1.0
    m[0, 1] += 1.0
    return normalise(m)


def vertical_diagonal() -> np.ndarray:
    return 0.5 * vertical() + 0.5 * diagonal()


def block() -> np.ndarray:
    m = np.full((N, N), 0.001)
    same = (SEGMENT[:, None] == SEGMENT[None, :]) & PLAIN[None, :]
    m[same] += 1.0
    return normalise(m)


def heterogeneous() -> np.ndarray:
    return normalise(np.random.default_rng(0).random((N, N)))


BUILDERS = {"vertical": vertical, "diagonal": diagonal, "vertical+diagonal": vertical_diagonal, "block": block,
            "heterogeneous": heterogeneous}


def test_each_hand_built_pattern_is_classified_as_its_type():
    maps = np.stack([BUILDERS[name]() for name in PATTERNS])[None]  # one layer, a head per pattern
    cap = Capture([Example(tokens=TOKENS, special_mask=[t.startswith("[") for t in TOKENS],
                           attentions=maps.astype(np.float32))], layers=[0], heads=list(range(len(PATTERNS))))
    stats = head_stats(cap)
    assert stats.patterns()[0].tolist() == list(PATTERNS)
    assert stats.values["block"][0, PATTERNS.index("block")] > 0.95
    assert stats.values["vertical"][0, 0] > 0.7 and stats.values["diagonal"][0, 0] < 0.2


def test_thresholds_are_parameters():
    stats_like = dict(vertical=np.array([0.45]), diagonal=np.array([0.05]), block=np.array([0.5]))
    assert classify_patterns(**stats_like).tolist() == ["heterogeneous"]
    assert classify_patterns(**stats_like, thresholds=PatternThresholds(vertical=0.4)).tolist() == ["vertical"]
    assert classify_pattern(0.3, 0.3, 0.9, PatternThresholds(combined=0.5)) == "vertical+diagonal"
    assert classify_pattern(0.3, 0.3, 0.9) == "block"
    assert classify_pattern(0.0, 0.0, float("nan")) == "heterogeneous"


def test_head_stats_patterns_accept_keyword_thresholds(bert_capture):
    stats = head_stats(bert_capture)
    loose = stats.patterns(vertical=0.0)
    assert set(loose.ravel()) <= {"vertical", "vertical+diagonal"}
    with pytest.raises(KeyError, match="vertical"):
        head_stats(bert_capture, metrics=["cls"]).patterns()


def test_bad_thresholds_and_shapes_are_refused():
    with pytest.raises(ValueError, match="out of range"):
        PatternThresholds(block=-1)
    with pytest.raises(ValueError, match="differ in shape"):
        classify_patterns(np.zeros(2), np.zeros(3))
