"""Numbers per head, over many texts: statistics from the literature, rollout, logit lens.

* :func:`head_stats` (a Capture) and :func:`dataset_stats` (a model and any number of
  texts, streamed with bounded memory) return :class:`HeadStats`: per-head mean and
  std of entropy, attention to [CLS]/[SEP]/punctuation/previous/next token (Clark et
  al. 2019), attention distance, confidence (Voita et al. 2019), attention-sink score
  (Xiao et al. 2023), induction score (Olsson et al. 2022) and Kovaleva et al.'s (2019)
  pattern types; :func:`register_metric` adds statistics of your own to all of them.
* :func:`rollout` and :func:`attention_flow` (Abnar & Zuidema 2020) return a :class:`Rollout`.
* :func:`relevance` (Chefer et al. 2021, grad * attention, Kobayashi et al. 2020 value norms)
  returns a :class:`Relevance`: per-token relevance for the predicted class or next token.
* :func:`logit_lens` returns a :class:`LogitLens` for decoder language models.
* :func:`knockout_map` (Geva et al. 2023) and :func:`head_patching` (Wang et al. 2022): does the
  attention matter? Interventions through :func:`attnviz.intervene`; :class:`KnockoutMap`,
  :class:`HeadPatching`.
* :func:`head_importance` (Michel et al. 2019 gradient, or ablation) returns a
  :class:`HeadImportance`; :func:`pruning_curve` the accuracy as heads are pruned.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", ["the cat sat on the mat"])
    >>> attnviz.metrics.head_stats(cap).top(1, by="cls")[0].layer in cap.layers
    True
"""
from __future__ import annotations

from attnviz.metrics.causal import HeadPatching, KnockoutMap, head_patching, knockout_map
from attnviz.metrics.dataset import dataset_stats
from attnviz.metrics.definitions import (
                                         DEFAULT_METRICS,
                                         IMAGE_METRICS,
                                         METRICS,
                                         Metric,
                                         register_metric,
                                         registered_metrics,
                                         unregister_metric,
)
from attnviz.metrics.heads import head_stats
from attnviz.metrics.importance import HeadImportance, PruningCurve, head_importance, pruning_curve
from attnviz.metrics.lens import LogitLens, logit_lens
from attnviz.metrics.patterns import PATTERNS, PatternThresholds, classify_patterns
from attnviz.metrics.relevance import Relevance, relevance
from attnviz.metrics.rollout import Rollout, attention_flow, rollout
from attnviz.metrics.stats import HeadScore, HeadStats

__all__ = [
    "DEFAULT_METRICS",
    "HeadScore",
    "HeadImportance",
    "HeadPatching",
    "HeadStats",
    "IMAGE_METRICS",
    "KnockoutMap",
    "METRICS",
    "Metric",
    "LogitLens",
    "PATTERNS",
    "PatternThresholds",
    "PruningCurve",
    "Relevance",
    "Rollout",
    "attention_flow",
    "classify_patterns",
    "dataset_stats",
    "head_importance",
    "head_patching",
    "head_stats",
    "knockout_map",
    "logit_lens",
    "pruning_curve",
    "register_metric",
    "registered_metrics",
    "relevance",
    "rollout",
    "unregister_metric",
]
