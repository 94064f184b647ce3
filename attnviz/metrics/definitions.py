"""The per-head statistics attnviz computes: names, meanings and sources.

Every statistic is computed per example over its real tokens (padding never
counts) and then averaged over examples. With ``n`` the number of real tokens
and ``A`` one head's attention map (rows are queries):

* ``entropy``: Clark et al. (2019), "What Does BERT Look At?": smooth
  ``A <- 0.9999 A + 0.0001 / n``, ``H_i = -sum_j a_ij ln a_ij`` (nats), mean over queries.
  Uniform attention gives ``ln n`` (the smoothing leaves a uniform row unchanged).
* ``entropy_norm``: ``entropy / ln n``, 1 for uniform attention, 0 for one-hot
  (examples with one token are skipped).
* ``cls`` / ``sep`` / ``punct``: Clark et al.'s attention to a token type T,
  ``(1/n) sum_i sum_{j in T} A[i, j]``; see :mod:`attnviz.metrics.roles` for which
  tokens count as [CLS], [SEP] and punctuation.
* ``prev`` / ``next``: the same on the off-diagonals, ``(1/n) sum_i A[i, i-1]`` and
  ``(1/n) sum_i A[i, i+1]``; a one-hot previous-token head scores ``(n-1)/n``.
* ``distance``: mean attention distance ``(1/n) sum_i sum_j A[i, j] |i - j|``, in tokens.
* ``confidence``: Voita et al. (2019), "Analyzing Multi-Head Self-Attention": mean
  over queries of the largest weight in the row.
* ``sink``: attention-sink score (Xiao et al. 2023, "Efficient Streaming Language
  Models with Attention Sinks"): share of attention on the first token, averaged over
  the queries after the first (whose attention to it is forced in a causal model);
  meaningful for decoders, computed for every model.
* ``vertical`` / ``diagonal`` / ``block``: the scores behind Kovaleva et al.'s (2019)
  pattern types, see :mod:`attnviz.metrics.patterns`.

Example:
    >>> DEFAULT_METRICS[:3]
    ('entropy', 'entropy_norm', 'cls')
    >>> check_metrics(["cls", "sep"])
    ('cls', 'sep')
"""
from __future__ import annotations

from typing import Iterable

DESCRIPTIONS: dict[str, str] = {
    "entropy": "attention entropy in nats, Clark et al. 2019 smoothing (uniform = ln n)",
    "entropy_norm": "entropy divided by ln n (1 = uniform, 0 = one-hot)",
    "cls": "share of attention on [CLS] / the first token (Clark et al. 2019)",
    "sep": "share of attention on [SEP] tokens / the last token (Clark et al. 2019)",
    "punct": "share of attention on punctuation tokens (Clark et al. 2019)",
    "prev": "share of attention on the previous token (Clark et al. 2019)",
    "next": "share of attention on the next token (Clark et al. 2019)",
    "distance": "mean attention distance |i - j| in tokens, weighted by attention",
    "confidence": "mean over queries of the largest attention weight (Voita et al. 2019)",
    "sink": "share of attention on the first token, queries after the first (Xiao et al. 2023)",
    "vertical": "share of off-diagonal attention on the 2 most attended keys (Kovaleva et al. 2019)",
    "diagonal": "share of attention on the previous, same and next token, [CLS]/[SEP] keys excluded "
                "(Kovaleva et al. 2019)",
    "block": "share of attention on non-special tokens of the query's own sentence/segment "
             "(Kovaleva et al. 2019)",
}

#: All statistics, in display order.
DEFAULT_METRICS: tuple[str, ...] = tuple(DESCRIPTIONS)

#: Statistics that need the same tokens on both axes (not defined for cross-attention).
POSITIONAL = frozenset({"prev", "next", "distance", "sink", "vertical", "diagonal", "block"})

#: Short labels for colour bars and titles.
LABELS: dict[str, str] = {
    "entropy": "entropy (nats)", "entropy_norm": "entropy / ln n", "cls": "attention to [CLS]",
    "sep": "attention to [SEP]", "punct": "attention to punctuation", "prev": "attention to previous token",
    "next": "attention to next token", "distance": "mean attention distance (tokens)",
    "confidence": "confidence (max weight)", "sink": "attention-sink score", "vertical": "vertical score",
    "diagonal": "diagonal score", "block": "block score",
}


def check_metrics(metrics: Iterable[str] | str | None, *, kind: str = "self") -> tuple[str, ...]:
    """Validate a selection of statistic names; None means all that apply to ``kind``.

    Raises a ValueError naming the unknown statistic and the known ones.

    Example:
        >>> check_metrics(None, kind="cross")[:2]
        ('entropy', 'entropy_norm')
        >>> check_metrics("prev")
        ('prev',)
    """
    cross = kind == "cross"
    if metrics is None:
        return tuple(m for m in DEFAULT_METRICS if not (cross and m in POSITIONAL))
    chosen = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    if not chosen:
        raise ValueError("metrics= is empty: name at least one statistic, or pass None for all")
    for name in chosen:
        if name not in DESCRIPTIONS:
            raise ValueError(f"unknown statistic {name!r}: use some of {', '.join(DEFAULT_METRICS)}")
        if cross and name in POSITIONAL:
            raise ValueError(f"statistic {name!r} compares query and key positions, which cross-attention "
                             f"does not share: leave it out for kind='cross'")
    return tuple(dict.fromkeys(chosen))
