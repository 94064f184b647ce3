"""Kovaleva et al.'s (2019) attention pattern types, by transparent thresholds.

Kovaleva, Romanov, Rogers and Rumshisky, "Revealing the Dark Secrets of BERT"
(EMNLP 2019) sorted BERT's attention maps into five types: *vertical* (attention to
[CLS]/[SEP] or another few tokens from every query), *diagonal* (previous/next
token), *vertical+diagonal*, *block* (inside the own sentence, for sentence pairs)
and *heterogeneous* (none of these). They trained a CNN on hand-labelled maps;
attnviz uses three scores instead, computed per example and averaged per head
(see :mod:`attnviz.metrics.definitions`):

* ``vertical``: share of the attention that lies *off* the band ``|i - j| <= 1`` and
  lands on the 2 most attended key columns;
* ``diagonal``: share on the band ``|i - j| <= 1`` (previous, same, next token),
  keys that are [CLS]/first or [SEP]/last left out (so a [CLS] stripe is not a diagonal);
* ``block``: share on the non-special tokens of the query's own segment (segments end
  at [SEP] and at ``. ! ? ;``), averaged over non-special queries, over examples with
  at least two segments (NaN when none has).

The rules, first match wins (all thresholds are parameters of :class:`PatternThresholds`):

1. ``vertical+diagonal`` if vertical >= ``part`` and diagonal >= ``part`` and their sum >= ``combined``;
2. ``vertical`` if vertical >= ``vertical``;
3. ``diagonal`` if diagonal >= ``diagonal``;
4. ``block`` if block >= ``block``;
5. ``heterogeneous`` otherwise.

Example:
    >>> classify_pattern(0.8, 0.1, float("nan"))
    'vertical'
    >>> classify_pattern(0.4, 0.45, 0.9)
    'vertical+diagonal'
    >>> classify_pattern(0.1, 0.2, 0.9), classify_pattern(0.1, 0.2, 0.3)
    ('block', 'heterogeneous')
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PATTERNS = ("vertical", "diagonal", "vertical+diagonal", "block", "heterogeneous")


@dataclass(frozen=True)
class PatternThresholds:
    """Thresholds of the pattern rules (see the module docstring).

    Example:
        >>> PatternThresholds(vertical=0.6).vertical
        0.6
    """

    vertical: float = 0.5
    diagonal: float = 0.5
    part: float = 0.25
    combined: float = 0.7
    block: float = 0.75

    def __post_init__(self) -> None:
        for name in ("vertical", "diagonal", "part", "combined", "block"):
            value = getattr(self, name)
            if not 0.0 <= value <= 2.0:
                raise ValueError(f"pattern threshold {name}={value} is out of range: use a share between 0 and 1")


def classify_pattern(vertical: float, diagonal: float, block: float,
                     thresholds: PatternThresholds | None = None) -> str:
    """The pattern type of one head from its three scores.

    Example:
        >>> classify_pattern(0.1, 0.9, 0.5)
        'diagonal'
    """
    t = thresholds or PatternThresholds()
    if vertical >= t.part and diagonal >= t.part and vertical + diagonal >= t.combined:
        return "vertical+diagonal"
    if vertical >= t.vertical:
        return "vertical"
    if diagonal >= t.diagonal:
        return "diagonal"
    if not math.isnan(block) and block >= t.block:
        return "block"
    return "heterogeneous"


def classify_patterns(vertical: np.ndarray, diagonal: np.ndarray, block: np.ndarray | None = None,
                      thresholds: PatternThresholds | None = None) -> np.ndarray:
    """Pattern types of arrays of heads (any shape); returns an array of strings.

    Example:
        >>> classify_patterns(np.array([0.9, 0.0]), np.array([0.0, 0.9])).tolist()
        ['vertical', 'diagonal']
    """
    vertical, diagonal = np.asarray(vertical, float), np.asarray(diagonal, float)
    block = np.full(vertical.shape, np.nan) if block is None else np.asarray(block, float)
    if not vertical.shape == diagonal.shape == block.shape:
        raise ValueError(f"score arrays differ in shape ({vertical.shape}, {diagonal.shape}, {block.shape}): "
                         "pass one value per head in each")
    out = np.empty(vertical.shape, dtype=object)
    for idx in np.ndindex(vertical.shape):
        out[idx] = classify_pattern(float(vertical[idx]), float(diagonal[idx]), float(block[idx]), thresholds)
    return out
