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


def batch_values(att: torch.Tensor | Sequence[torch.Tensor], tb: TokenBatch,
                 metrics: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-example statistics of a padded batch.

    ``att`` is (batch, layer, head, query, key) or a sequence of per-layer
    (batch, head, query, key) tensors, as a model returns them. Returns, per statistic,
    ``(values, valid)``: values (batch, layer, head) float64 and valid (batch,) bool
    (False where the statistic is undefined for that example, e.g. ``block`` on one sentence).

    Example:
        >>> from attnviz.metrics.roles import token_roles
        >>> tb = token_batch([token_roles(["a", "b", "c"], [0, 0, 0])], [0], 3)
        >>> prev = torch.tensor([[1., 0, 0], [1, 0, 0], [0, 1, 0]])[None, None, None]
        >>> round(float(batch_values(prev, tb, ["prev"])["prev"][0][0, 0, 0]), 4)
        0.6667
    """
    layers = att.unbind(1) if isinstance(att, torch.Tensor) else list(att)
    tb = tb.to(layers[0].device)
    per_layer = [_layer_values(a, tb, metrics) for a in layers]
    out = {}
    for name in metrics:
        values = torch.stack([p[name][0] for p in per_layer], dim=1).double().cpu().numpy()
        out[name] = (values, per_layer[0][name][1].cpu().numpy())
    return out


def cross_values(att: torch.Tensor, q_real: torch.Tensor, keys: TokenBatch,
                 metrics: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Key-based statistics of cross-attention (batch, layer, head, decoder query, encoder key).

    Example:
        >>> from attnviz.metrics.roles import token_roles
        >>> tb = token_batch([token_roles(["a", "b"], [0, 0])], [0], 2)
        >>> att = torch.tensor([[1.0, 0.0]])[None, None, None]             # one decoder query
        >>> float(cross_values(att, torch.ones(1, 1, dtype=torch.bool), tb, ["cls"])["cls"][0][0, 0, 0])
        1.0
    """
    out = {}
    for name in metrics:
        per = [_key_values(a, q_real, keys, name) for a in att.unbind(1)]
        out[name] = (torch.stack([p[0] for p in per], 1).double().numpy(), per[0][1].numpy())
    return out


def _clean(a: torch.Tensor, q_real: torch.Tensor, k_real: torch.Tensor) -> torch.Tensor:
    a = a.float()
    if bool(q_real.all()) and bool(k_real.all()):
        return a
    keep = q_real[:, None, :, None] & k_real[:, None, None, :]
    return torch.where(keep, a, torch.zeros((), dtype=a.dtype))


def _key_values(a, q_real, keys: TokenBatch, name):
    """Statistics that only look at keys: entropy, confidence, cls/sep/punct."""
    a = _clean(a, q_real, keys.real)
    nq = q_real.sum(-1).float()[:, None]
    ones = torch.ones_like(nq[:, 0], dtype=torch.bool)
    if name in ("entropy", "entropy_norm"):
        nk = keys.n[:, None, None, None]
        smooth = a * (1 - SMOOTHING) + SMOOTHING / nk
        h = -(torch.xlogy(smooth, smooth) * keys.real[:, None, None, :]).sum(-1)
        ent = (h * q_real[:, None, :]).sum(-1) / nq
        if name == "entropy":
            return ent, ones
        return ent / torch.log(keys.n.clamp(min=2))[:, None], keys.n >= 2
    if name == "confidence":
        return a.amax(-1).sum(-1) / nq, ones
    index = {"cls": 0, "sep": 1, "punct": 2}[name]
    return (a @ keys.key_roles[:, None, :, index:index + 1])[..., 0].sum(-1) / nq, ones


def _layer_values(a: torch.Tensor, tb: TokenBatch, metrics: Sequence[str]) -> dict:
    """Statistics of one layer: a is (batch, head, query, key), queries and keys the same tokens."""
    a = _clean(a, tb.real, tb.real)
    n = tb.n[:, None]
    ones = torch.ones(a.shape[0], dtype=torch.bool, device=a.device)
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    need = set(metrics)
    if need & {"cls", "sep", "punct", "sink"}:
        shares = a @ tb.key_roles[:, None]                      # (B, H, T, 3)
        for i, name in enumerate(("cls", "sep", "punct")):
            out[name] = (shares[..., i].sum(-1) / n, ones)
        sink = (shares[..., 0] * tb.sink_query[:, None]).sum(-1) / (n - 1).clamp(min=1)
        out["sink"] = (sink, tb.n >= 2)
    if need & {"entropy", "entropy_norm", "confidence"}:
        for name in need & {"entropy", "entropy_norm", "confidence"}:
            out[name] = _key_values(a, tb.real, tb, name)
    if need & {"prev", "next", "diagonal", "vertical"}:
        same = torch.diagonal(a, 0, -2, -1)                     # A[i, i]
        below = torch.diagonal(a, -1, -2, -1)                   # A[i+1, i]: previous token
        above = torch.diagonal(a, 1, -2, -1)                    # A[i, i+1]: next token
        out["prev"] = (below.sum(-1) / n, ones)
        out["next"] = (above.sum(-1) / n, ones)
        plain = 1 - tb.key_roles[..., :2].amax(-1)[:, None]    # keys that are neither first nor [SEP]
        band = (same * plain).sum(-1) + (below * plain[..., :-1]).sum(-1) + (above * plain[..., 1:]).sum(-1)
        out["diagonal"] = (band / n, ones)
        if "vertical" in need:
            off = a.sum(-2) - same
            off[..., :-1] -= below
            off[..., 1:] -= above
            k = min(VERTICAL_COLUMNS, off.shape[-1])
            out["vertical"] = (off.clamp(min=0).topk(k, dim=-1).values.sum(-1) / n, ones)
    if "distance" in need:
        pos = torch.arange(a.shape[-1], dtype=a.dtype, device=a.device)
        dist = (pos[:, None] - pos[None, :]).abs()
        out["distance"] = ((a * dist).sum((-1, -2)) / n, ones)
    if "block" in need:
        inside = (tb.segment[:, :, None] == tb.segment[:, None, :]).to(a.dtype)
        share = (a * inside[:, None]).sum(-1)
        count = tb.block_query.sum(-1).clamp(min=1)[:, None]
        out["block"] = ((share * tb.block_query[:, None]).sum(-1) / count, tb.block_valid)
    return out

