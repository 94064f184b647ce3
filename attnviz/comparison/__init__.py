"""``compare``: how attention and hidden states changed between two checkpoints, head by head.

Given two captures of the same texts (or two models plus the texts), :func:`compare`
computes per layer and head, averaged over examples (maps are already cropped, so
padding never enters):

* ``cosine``: cosine similarity of the flattened query x key maps (Kovaleva et al.
  2019, "Revealing the Dark Secrets of BERT"); ``change = 1 - cosine`` ranks the heads.
* ``js``: Jensen-Shannon divergence between the before and after attention
  distribution of each query row, in **nats** (0 = identical, at most ln 2 = 0.693;
  ``js_bits`` divides by ln 2), averaged over rows.
* ``entropy_change``: attention entropy after minus before (Clark et al. 2019:
  ``A <- 0.9999 A + 0.0001 / n``, ``H = -sum_j a ln a`` averaged over queries, nats).
* ``hidden_cosine``: per hidden-state layer (embeddings first), the cosine similarity
  of each token's representation before and after, averaged over tokens and examples.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", ["the cat sat", "a dog"])
    >>> comp = attnviz.compare(cap, cap)
    >>> float(comp.cosine.min().round(6)), float(comp.js.max().round(6))
    (1.0, 0.0)
"""
from __future__ import annotations

from attnviz.comparison.checks import CaptureMismatchError, check_same
from attnviz.comparison.result import Comparison
from attnviz.comparison.run import compare

__all__ = ["CaptureMismatchError", "Comparison", "check_same", "compare"]
