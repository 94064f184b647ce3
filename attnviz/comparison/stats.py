"""The numbers behind :func:`attnviz.compare`, per layer and head, averaged over examples.

* cosine similarity of the flattened maps (Kovaleva et al. 2019);
* Jensen-Shannon divergence of each query row (nats), averaged over rows;
* entropy with Clark et al.'s (2019) smoothing, before and after;
* per-layer cosine similarity of the token representations (hidden states).

Example:
    >>> p = np.array([[[[0.5, 0.5], [1.0, 0.0]]]])
    >>> float(_js_rows(p, p).max())
    0.0
"""
from __future__ import annotations

from typing import Any

import numpy as np

from attnviz.capture import Capture

__all__ = ["statistics"]


def statistics(a: Capture, b: Capture) -> dict[str, Any]:
    """Per (layer, head) means over examples: cosine, JS divergence, entropy before/after; hidden cosine.

    Example:
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat")
        >>> float(statistics(cap, cap)["cosine"].min()) > 0.9999
        True
    """
    sums: dict[str, float | np.ndarray] = {k: 0.0 for k in ("cosine", "js", "entropy_before", "entropy_after")}
    for x, y in zip(a, b, strict=True):
        p, q = x.attention().astype(np.float64), y.attention().astype(np.float64)
        dot = (p * q).sum(axis=(2, 3))
        sums["cosine"] = sums["cosine"] + dot / np.maximum(np.linalg.norm(p, axis=(2, 3)) *
                                                           np.linalg.norm(q, axis=(2, 3)), 1e-12)
        sums["js"] = sums["js"] + _js_rows(p, q).mean(axis=-1)
        sums["entropy_before"] = sums["entropy_before"] + _entropy(p)
        sums["entropy_after"] = sums["entropy_after"] + _entropy(q)
    stats: dict[str, np.ndarray | None] = {k: np.asarray(v / len(a)) for k, v in sums.items()}
    stats["hidden_cosine"] = _hidden_cosine(a, b)
    return stats


def _js_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (nats) of each query row: (..., query)."""
    m = 0.5 * (p + q)

    def kl(x):
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(x > 0, x * np.log(x / np.where(m > 0, m, 1.0)), 0.0)
        return terms.sum(axis=-1)

    return np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, np.log(2.0))


def _entropy(att: np.ndarray) -> np.ndarray:
    """Clark et al. (2019) entropy per (layer, head), mean over queries: the metrics kernel's one definition."""
    import torch

    from attnviz.metrics.kernel import query_entropy

    layers, heads, q, k = att.shape
    a = torch.tensor(att, dtype=torch.float64).reshape(1, layers * heads, q, k)
    rows = query_entropy(a, torch.tensor([float(k)], dtype=torch.float64))
    return rows.mean(-1).reshape(layers, heads).numpy()


def _hidden_cosine(a: Capture, b: Capture) -> np.ndarray | None:
    if any(x.hidden_states is None for x in a) or any(y.hidden_states is None for y in b):
        return None
    total = 0.0
    for x, y in zip(a, b, strict=True):
        assert x.hidden_states is not None and y.hidden_states is not None  # checked above
        h, g = x.hidden_states.astype(np.float64), y.hidden_states.astype(np.float64)
        if h.shape != g.shape:
            return None
        cos = (h * g).sum(-1) / np.maximum(np.linalg.norm(h, axis=-1) * np.linalg.norm(g, axis=-1), 1e-12)
        total = total + cos.mean(axis=-1)
    return np.asarray(total / len(a))
