"""Vectorised per-head statistics on a padded batch of attention maps (torch).

:func:`batch_values` computes every statistic of
:mod:`attnviz.metrics.definitions` for a whole batch at once, with masks instead of
Python loops over examples, so that data-set statistics keep up with the model.
:func:`head_stats <attnviz.metrics.head_stats>` and :func:`dataset_stats
<attnviz.metrics.dataset_stats>` both go through it, so they agree exactly.

Example:
    >>> import numpy as np, torch
    >>> from attnviz.metrics.roles import token_roles
    >>> roles = token_roles(["[CLS]", "a", "b", "[SEP]"], [1, 0, 0, 1])
    >>> tb = token_batch([roles], [0], 4)
    >>> att = torch.full((1, 1, 1, 4, 4), 0.25)       # batch, layer, head, query, key
    >>> vals = batch_values(att, tb, ("entropy", "cls"))
    >>> round(float(vals["cls"][0][0, 0, 0]), 4), bool(np.isclose(float(vals["entropy"][0][0, 0, 0]), np.log(4)))
    (0.25, True)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

#: Number of key columns the ``vertical`` score looks at.
VERTICAL_COLUMNS = 2
#: Clark et al. (2019) entropy smoothing: A <- (1 - EPS) A + EPS / n.
SMOOTHING = 1e-4


@dataclass
class TokenBatch:
    """Masks of one padded batch; rows are examples, columns padded positions."""

    real: torch.Tensor          # (B, T) bool: a real token
    key_roles: torch.Tensor     # (B, T, 3) float: first, sep, punct
    sink_query: torch.Tensor    # (B, T) float: real queries after the first token
    segment: torch.Tensor       # (B, T) long: sentence/segment id
    block_query: torch.Tensor   # (B, T) float: real, non-special queries
    block_valid: torch.Tensor   # (B,) bool: at least two segments among non-special tokens
    n: torch.Tensor             # (B,) float: real tokens

    def to(self, device) -> "TokenBatch":
        """The same masks on ``device`` (where the attention maps are)."""
        if self.real.device == torch.device(device):
            return self
        return TokenBatch(**{k: v.to(device) for k, v in vars(self).items()})


def token_batch(roles: Sequence[dict[str, np.ndarray]], starts: Sequence[int], width: int) -> TokenBatch:
    """Pack per-example token roles (:func:`~attnviz.metrics.roles.token_roles`) at their padded offsets.

    Example:
        >>> from attnviz.metrics.roles import token_roles
        >>> tb = token_batch([token_roles(["a", "b"], [0, 0])], [1], 3)   # left padded by one
        >>> tb.real.tolist(), tb.n.tolist()
        ([[False, True, True]], [2.0])
    """
    b = len(roles)
    real = np.zeros((b, width), bool)
    keys = np.zeros((b, width, 3), np.float32)
    sink = np.zeros((b, width), np.float32)
    segment = np.zeros((b, width), np.int64)
    block_q = np.zeros((b, width), np.float32)
    valid = np.zeros(b, bool)
    for row, (r, s) in enumerate(zip(roles, starts)):
        n = len(r["first"])
        cols = slice(s, s + n)
        real[row, cols] = True
        keys[row, cols, 0], keys[row, cols, 1], keys[row, cols, 2] = r["first"], r["sep"], r["punct"]
        sink[row, cols] = ~r["first"]
        seg = np.cumsum(r["boundary"]) - r["boundary"]
        segment[row, cols] = seg
        block_q[row, cols] = ~r["special"]
        plain = seg[~r["special"]]
        valid[row] = plain.size > 0 and plain.min() != plain.max()
    return TokenBatch(real=torch.from_numpy(real), key_roles=torch.from_numpy(keys),
                      sink_query=torch.from_numpy(sink), segment=torch.from_numpy(segment),
                      block_query=torch.from_numpy(block_q), block_valid=torch.from_numpy(valid),
                      n=torch.from_numpy(real.sum(1).astype(np.float32)))


def batch_values(att: torch.Tensor | Sequence[torch.Tensor], tb: TokenBatch, metrics: Sequence[str], *,
                 consume: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-example statistics of a padded batch.

    ``att`` is (batch, layer, head, query, key) or a sequence of per-layer
    (batch, head, query, key) tensors, as a model returns them; attention on padded
    keys must be 0 (a model's attention mask does that; padded query rows may hold
    anything). Returns, per statistic, ``(values, valid)``: values (batch, layer, head)
    float64 and valid (batch,) bool (False where the statistic is undefined for that
    example, e.g. ``block`` on one sentence). ``consume=True`` lets the entropy reuse
    the maps' memory (they are overwritten): for maps nobody needs afterwards.

    Example:
        >>> from attnviz.metrics.roles import token_roles
        >>> tb = token_batch([token_roles(["a", "b", "c"], [0, 0, 0])], [0], 3)
        >>> prev = torch.tensor([[1., 0, 0], [1, 0, 0], [0, 1, 0]])[None, None, None]
        >>> round(float(batch_values(prev, tb, ["prev"])["prev"][0][0, 0, 0]), 4)
        0.6667
    """
    layers = att.unbind(1) if isinstance(att, torch.Tensor) else list(att)
    tb = tb.to(layers[0].device)
    per_layer = [_layer_values(a, tb, tb, metrics, consume) for a in layers]
    return _collect(per_layer, metrics)


def cross_values(att: torch.Tensor, q_real: torch.Tensor, keys: TokenBatch,
                 metrics: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Key-based statistics of cross-attention (batch, layer, head, decoder query, encoder key).

    ``q_real`` (batch, decoder position) marks the real decoder queries.

    Example:
        >>> from attnviz.metrics.roles import token_roles
        >>> tb = token_batch([token_roles(["a", "b"], [0, 0])], [0], 2)
        >>> att = torch.tensor([[1.0, 0.0]])[None, None, None]             # one decoder query
        >>> float(cross_values(att, torch.ones(1, 1, dtype=torch.bool), tb, ["cls"])["cls"][0][0, 0, 0])
        1.0
    """
    q_real = q_real.bool()
    queries = _Queries(q_real, q_real.sum(-1).float())
    return _collect([_layer_values(a, queries, keys, metrics, False) for a in att.unbind(1)], metrics)


@dataclass
class _Queries:
    real: torch.Tensor
    n: torch.Tensor


def _collect(per_layer: list[dict], metrics: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name in metrics:
        values = torch.stack([p[name][0] for p in per_layer], dim=1).double().cpu().numpy()
        out[name] = (values, per_layer[0][name][1].cpu().numpy())
    return out


def _layer_values(a: torch.Tensor, q: TokenBatch | _Queries, k: TokenBatch, metrics: Sequence[str],
                  consume: bool) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Statistics of one layer, a (batch, head, query, key).

    Sums run per query first and padded queries are dropped from those (batch, head,
    query) results, so the full maps are never masked or copied.
    """
    a = a.float()
    real = q.real[:, None, :]                                    # (B, 1, Tq)
    n = q.n[:, None]

    def mean(per_query: torch.Tensor, mask: torch.Tensor = real, count: torch.Tensor = n) -> torch.Tensor:
        return torch.where(mask, per_query, 0.0).sum(-1) / count

    ones = torch.ones(a.shape[0], dtype=torch.bool, device=a.device)
    need = set(metrics)
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if need & {"cls", "sep", "punct", "sink"}:
        shares = a @ k.key_roles[:, None]                        # (B, H, Tq, 3)
        for i, name in enumerate(("cls", "sep", "punct")):
            out[name] = (mean(shares[..., i]), ones)
        if "sink" in need:
            sink_q = (k.sink_query > 0)[:, None]
            out["sink"] = (mean(shares[..., 0], sink_q, (n - 1).clamp(min=1)), q.n >= 2)
    if "confidence" in need:
        out["confidence"] = (mean(a.amax(-1)), ones)
    if need & {"prev", "next", "diagonal", "vertical"}:
        out.update(_band(a, k, real, n, mean, ones, need))
    if "distance" in need:
        pos = torch.arange(a.shape[-1], dtype=a.dtype, device=a.device)
        out["distance"] = (mean((a * (pos[:, None] - pos[None, :]).abs()).sum(-1)), ones)
    if "block" in need:
        inside = (k.segment[:, :, None] == k.segment[:, None, :]).to(a.dtype) * k.block_query[:, None, :]
        block_q = (k.block_query > 0)[:, None]
        count = k.block_query.sum(-1).clamp(min=1)[:, None]
        out["block"] = (mean((a * inside[:, None]).sum(-1), block_q, count), k.block_valid)
    if need & {"entropy", "entropy_norm"}:
        ent = mean(_entropy(a if consume else a.clone(), k))
        out["entropy"] = (ent, ones)
        out["entropy_norm"] = (ent / torch.log(k.n.clamp(min=2))[:, None], k.n >= 2)
    return out


def _band(a, k: TokenBatch, real, n, mean, ones, need) -> dict:
    """prev / next / diagonal / vertical from the three central diagonals."""
    same = torch.diagonal(a, 0, -2, -1)                          # A[i, i]
    below = torch.diagonal(a, -1, -2, -1)                        # A[i+1, i]: previous token
    above = torch.diagonal(a, 1, -2, -1)                         # A[i, i+1]: next token
    real_below, real_above = real[..., 1:], real[..., :-1]       # the query of each entry
    same, below, above = (torch.where(real, same, 0.0), torch.where(real_below, below, 0.0),
                          torch.where(real_above, above, 0.0))
    out = {"prev": (below.sum(-1) / n, ones), "next": (above.sum(-1) / n, ones)}
    plain = 1 - k.key_roles[..., :2].amax(-1)[:, None]           # keys neither first nor [SEP]
    band = (same * plain).sum(-1) + (below * plain[..., :-1]).sum(-1) + (above * plain[..., 1:]).sum(-1)
    out["diagonal"] = (band / n, ones)
    if "vertical" in need:
        off = (real.to(a.dtype)[:, :, None, :] @ a)[:, :, 0] - same     # column sums over real queries
        off[..., :-1] -= below
        off[..., 1:] -= above
        top = off.clamp(min=0).topk(min(VERTICAL_COLUMNS, off.shape[-1]), dim=-1).values
        out["vertical"] = (top.sum(-1) / n, ones)
    return out


def _entropy(a: torch.Tensor, k: TokenBatch) -> torch.Tensor:
    """Per-query smoothed entropy (Clark et al. 2019), overwriting ``a``; padded keys (A = 0) left out.

    Over all T key columns, then minus the (T - n) padded keys' term, each of which is
    ``entr(SMOOTHING / n)`` since their weight is 0 before smoothing.
    """
    eps = (SMOOTHING / k.n)[:, None, None, None]
    a.mul_(1 - SMOOTHING).add_(eps)
    total = torch.special.entr(a, out=a).sum(-1)
    padded = (a.shape[-1] - k.n)[:, None, None]
    return total - padded * torch.special.entr(eps[..., 0])
