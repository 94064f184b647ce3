"""The per-head statistics attnviz computes: names, meanings and sources.

Every statistic is computed per example over its real tokens (padding never
counts) and then averaged over examples. With ``n`` the number of real tokens
and ``A`` one head's attention map (rows are queries):

* ``entropy``: Clark et al. (2019), "What Does BERT Look At?": smooth
  ``A <- 0.9999 A + 0.0001 / n``, ``H_i = -sum_j a_ij ln a_ij`` (nats), mean over queries.
  Uniform attention gives ``ln n`` (the smoothing leaves a uniform row unchanged).
* ``entropy_norm``: attnviz's own, ``entropy / ln n``, 1 for uniform attention, 0 for
  one-hot (examples with one token are skipped).
* ``cls_entropy``: Clark et al.: the smoothed entropy of the [CLS] (first token) row alone.
* ``cls`` / ``sep`` / ``punct``: Clark et al.'s attention to a token type T,
  ``(1/n) sum_i sum_{j in T} A[i, j]``; ``punct`` is theirs, "." or "," only. See
  :mod:`attnviz.metrics.roles` for which tokens count as [CLS] and [SEP].
* ``punct_unicode``: attnviz's own, the same with every token made of Unicode
  punctuation or symbols (it differs from ``punct`` on text with ! ? ; : ' -- ...).
* ``sep_sep`` / ``rest_sep``: Clark et al.'s attention from [SEP] queries to [SEP] keys,
  ``(1/|S|) sum_{i in S} sum_{j in S} A[i, j]``, and from the other queries,
  ``(1/(n - |S|)) sum_{i not in S} sum_{j in S} A[i, j]`` (their code divides by 2 and
  n - 2: a sentence pair has two [SEP] tokens).
* ``self``: Clark et al.'s attention to the token itself, ``(1/n) sum_i A[i, i]``.
* ``prev`` / ``next``: the same on the off-diagonals, ``(1/n) sum_i A[i, i-1]`` and
  ``(1/n) sum_i A[i, i+1]``; a one-hot previous-token head scores ``(n-1)/n``.
* ``distance``: attnviz's own, mean attention distance ``(1/n) sum_i sum_j A[i, j] |i - j|``, in tokens.
* ``confidence``: Voita et al. (2019), "Analyzing Multi-Head Self-Attention": mean
  over queries of the largest weight in the row.
* ``sink``: attention-sink score (Xiao et al. 2023, "Efficient Streaming Language
  Models with Attention Sinks"): share of attention on the first token, averaged over
  the queries after the first (whose attention to it is forced in a causal model);
  meaningful for decoders, computed for every model.
* ``vertical`` / ``diagonal`` / ``block``: the scores behind Kovaleva et al.'s (2019)
  pattern types, see :mod:`attnviz.metrics.patterns`.

Example:
    >>> DEFAULT_METRICS[:4]
    ('entropy', 'entropy_norm', 'cls_entropy', 'cls')
    >>> check_metrics(["cls", "sep"])
    ('cls', 'sep')
"""
from __future__ import annotations

from typing import Iterable

DESCRIPTIONS: dict[str, str] = {
    "entropy": "Clark et al. 2019 (What Does BERT Look At?): A <- 0.9999 A + 0.0001/n, "
               "H = (1/n) sum_i -sum_j A[i,j] ln A[i,j], nats (uniform = ln n)",
    "entropy_norm": "attnviz's own: entropy / ln n (1 = uniform, 0 = one-hot); not in Clark et al. 2019",
    "cls_entropy": "Clark et al. 2019: entropy of the [CLS] (first token) row, -sum_j A[0,j] ln A[0,j], "
                   "same smoothing, nats",
    "cls": "Clark et al. 2019: (1/n) sum_i sum_{j in [CLS]} A[i,j], [CLS] = the first token",
    "sep": "Clark et al. 2019: (1/n) sum_i sum_{j in SEP} A[i,j], SEP = the [SEP] tokens (else the last token)",
    "sep_sep": "Clark et al. 2019: (1/|SEP|) sum_{i in SEP} sum_{j in SEP} A[i,j], [SEP] queries to [SEP] keys",
    "rest_sep": "Clark et al. 2019: (1/(n-|SEP|)) sum_{i not in SEP} sum_{j in SEP} A[i,j], other queries "
                "to [SEP] keys",
    "punct": "Clark et al. 2019: (1/n) sum_i sum_{j in P} A[i,j], P = tokens '.' or ',' (their code)",
    "punct_unicode": "attnviz's own: as punct with P = every token made only of Unicode punctuation or "
                     "symbols (! ? ; : ' -- $ ...)",
    "self": "Clark et al. 2019: (1/n) sum_i A[i,i], attention to the token itself",
    "prev": "Clark et al. 2019: (1/n) sum_i A[i,i-1], attention to the previous token",
    "next": "Clark et al. 2019: (1/n) sum_i A[i,i+1], attention to the next token",
    "distance": "attnviz's own: (1/n) sum_i sum_j A[i,j] |i-j|, mean attention distance in tokens",
    "confidence": "Voita et al. 2019 (Analyzing Multi-Head Self-Attention): (1/n) sum_i max_j A[i,j]",
    "sink": "Xiao et al. 2023 (Attention Sinks): (1/(n-1)) sum_{i>0} A[i,0], attention on the first token",
    "vertical": "Kovaleva et al. 2019 (Dark Secrets of BERT), score of attnviz's pattern rule: (1/n) x "
                "off-band attention on the 2 most attended keys",
    "diagonal": "Kovaleva et al. 2019, score of attnviz's pattern rule: (1/n) sum_i sum_{|i-j|<=1} A[i,j], "
                "[CLS]/[SEP] keys excluded",
    "block": "Kovaleva et al. 2019, score of attnviz's pattern rule: mean over plain queries of their attention "
             "on plain keys of their own sentence/segment",
}

#: All statistics, in display order.
DEFAULT_METRICS: tuple[str, ...] = tuple(DESCRIPTIONS)

#: Statistics that need the same tokens on both axes (not defined for cross-attention).
POSITIONAL = frozenset({"prev", "next", "distance", "sink", "vertical", "diagonal", "block", "self",
                        "sep_sep", "rest_sep", "cls_entropy"})

#: Short labels for colour bars and titles.
LABELS: dict[str, str] = {
    "entropy": "entropy (nats)", "entropy_norm": "entropy / ln n", "cls": "attention to [CLS]",
    "sep": "attention to [SEP]", "punct": "attention to '.' and ','",
    "punct_unicode": "attention to punctuation/symbols", "cls_entropy": "[CLS] row entropy (nats)",
    "self": "attention to self", "sep_sep": "[SEP] to [SEP]", "rest_sep": "other tokens to [SEP]", "prev": "attention to previous token",
    "next": "attention to next token", "distance": "mean attention distance (tokens)",
    "confidence": "confidence (max weight)", "sink": "attention-sink score", "vertical": "vertical score",
    "diagonal": "diagonal score", "block": "block score",
}


def check_metrics(metrics: Iterable[str] | str | None, *, kind: str = "self") -> tuple[str, ...]:
    """Validate a selection of statistic names; None means all that apply to ``kind``.

    Raises a ValueError naming the unknown statistic and the known ones.

    Example:
        >>> check_metrics(None, kind="cross")[:3]
        ('entropy', 'entropy_norm', 'cls')
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
