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
from typing import Any, Sequence

import numpy as np
import torch

from attnviz.metrics.definitions import custom_metrics

#: Number of key columns the ``vertical`` score looks at.
VERTICAL_COLUMNS = 2
#: Clark et al. (2019) entropy smoothing: A <- (1 - EPS) A + EPS / n.
SMOOTHING = 1e-4
#: Key roles packed in TokenBatch.key_roles, in column order (statistic "cls" reads "first").
KEY_ROLES = ("first", "sep", "punct", "punct_unicode")


@dataclass
class TokenBatch:
    """Masks of one padded batch; rows are examples, columns padded positions."""

    real: torch.Tensor          # (B, T) bool: a real token
    key_roles: torch.Tensor     # (B, T, 4) float: first, sep, punct (Clark: "." or ","), punct_unicode
    sink_query: torch.Tensor    # (B, T) float: real queries after the first token
    segment: torch.Tensor       # (B, T) long: sentence/segment id
    block_query: torch.Tensor   # (B, T) float: real, non-special queries
    block_valid: torch.Tensor   # (B,) bool: at least two segments among non-special tokens
    n: torch.Tensor             # (B,) float: real tokens
    induction_key: torch.Tensor | None = None   # (B, T) long: key of the induction score (padded), -1 none
    tokens: list[list[str]] | None = None       # per example: its tokens (for registered statistics)
    patch_xy: torch.Tensor | None = None        # (B, T, 2) float: patch centres in pixels, NaN off the patches

    def to(self, device) -> TokenBatch:
        """The same masks on ``device`` (where the attention maps are)."""
        if self.real.device == torch.device(device):
            return self
        moved: dict[str, Any] = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in vars(self).items()}
        return TokenBatch(**moved)


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
    keys = np.zeros((b, width, len(KEY_ROLES)), np.float32)
    sink = np.zeros((b, width), np.float32)
    segment = np.zeros((b, width), np.int64)
    block_q = np.zeros((b, width), np.float32)
    valid = np.zeros(b, bool)
    induction = np.full((b, width), -1, np.int64)
    for row, (r, s) in enumerate(zip(roles, starts)):
        n = len(r["first"])
        cols = slice(s, s + n)
        real[row, cols] = True
        for i, role in enumerate(KEY_ROLES):
            keys[row, cols, i] = r[role]
        sink[row, cols] = ~r["first"]
        seg = np.cumsum(r["boundary"]) - r["boundary"]
        segment[row, cols] = seg
        block_q[row, cols] = ~r["special"]
        plain = seg[~r["special"]]
        valid[row] = plain.size > 0 and plain.min() != plain.max()
        if "induction_key" in r:
            key = np.asarray(r["induction_key"])
            induction[row, cols] = np.where(key >= 0, key + s, -1)
    tokens = [list(r["tokens"]) for r in roles] if all("tokens" in r for r in roles) else None
    patch_xy = None
    if any("patch_xy" in r for r in roles):  # image examples: where each patch sits
        xy = np.full((b, width, 2), np.nan, np.float32)
        for row, (r, s) in enumerate(zip(roles, starts, strict=True)):
            if "patch_xy" in r:
                xy[row, s:s + len(r["first"])] = r["patch_xy"]
        patch_xy = torch.from_numpy(xy)
    return TokenBatch(real=torch.from_numpy(real), key_roles=torch.from_numpy(keys),
                      sink_query=torch.from_numpy(sink), segment=torch.from_numpy(segment),
                      block_query=torch.from_numpy(block_q), block_valid=torch.from_numpy(valid),
                      n=torch.from_numpy(real.sum(1).astype(np.float32)),
                      induction_key=torch.from_numpy(induction), tokens=tokens, patch_xy=patch_xy)


def batch_values(att: torch.Tensor | Sequence[torch.Tensor], tb: TokenBatch,
                 metrics: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-example statistics of a padded batch.

    ``att`` is (batch, layer, head, query, key) or a sequence of per-layer
    (batch, head, query, key) tensors, as a model returns them; attention on padded
    keys must be 0 (a model's attention mask does that; padded query rows may hold
    anything). All layers are processed at once, in one float32 working copy (the
    input is not modified). Returns, per statistic, ``(values, valid)``: values
    (batch, layer, head) float64 and valid (batch,) bool (False where the statistic is
    undefined for that example, e.g. ``block`` on one sentence).

    Example:
        >>> from attnviz.metrics.roles import token_roles
        >>> tb = token_batch([token_roles(["a", "b", "c"], [0, 0, 0])], [0], 3)
        >>> prev = torch.tensor([[1., 0, 0], [1, 0, 0], [0, 1, 0]])[None, None, None]
        >>> round(float(batch_values(prev, tb, ["prev"])["prev"][0][0, 0, 0]), 4)
        0.6667
    """
    a = _working_copy(att)
    tb = tb.to(a.device)
    return _collect(_values(a, tb, tb, metrics), a.shape[1], metrics)


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
    a = _working_copy(att)
    q_real = q_real.bool().to(a.device)
    queries = _Queries(q_real, q_real.sum(-1).float())
    return _collect(_values(a, queries, keys.to(a.device), metrics), a.shape[1], metrics)


@dataclass
class _Queries:
    real: torch.Tensor
    n: torch.Tensor


def _working_copy(att) -> torch.Tensor:
    """A new contiguous float32 (batch, layer, head, query, key) tensor."""
    if isinstance(att, torch.Tensor):
        return att.to(torch.float32, copy=True).contiguous()
    return torch.stack([a.float() for a in att], dim=1)


def _collect(values: dict, layers: int, metrics: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for name in metrics:
        v, valid = values[name]
        out[name] = (v.reshape(v.shape[0], layers, -1).double().cpu().numpy(), valid.cpu().numpy())
    return out


def _values(a5: torch.Tensor, q: TokenBatch | _Queries, k: TokenBatch,
            metrics: Sequence[str]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Statistics of all layers and heads at once; a5 (batch, layer, head, query, key) is overwritten.

    Padded query rows are zeroed first, so that every sum over queries can run on
    the whole map; each statistic is then a few passes (or one batched matmul) over it.
    """
    b, layers, heads, tq, tk = a5.shape
    a = a5.view(b, layers * heads, tq, tk)
    real = q.real[:, None, :]                                    # (B, 1, Tq)
    if not bool(q.real.all()):
        a.masked_fill_(~real[..., None], 0.0)
    n = q.n[:, None]
    ones = torch.ones(b, dtype=torch.bool, device=a.device)
    need = set(metrics)
    out: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    if need & {"cls", "sep", "punct", "punct_unicode", "sink", "sep_sep", "rest_sep"}:
        roles = len(KEY_ROLES)
        shares = torch.bmm(a.view(b, -1, tk), k.key_roles).view(b, -1, tq, roles)
        for i, name in enumerate(("cls", "sep", "punct", "punct_unicode")):
            out[name] = (shares[..., i].sum(-1) / n, ones)
        if need & {"sep_sep", "rest_sep"}:                       # Clark et al.: queries split by [SEP] or not
            assert isinstance(q, TokenBatch), "sep_sep/rest_sep are positional: not for cross-attention"
            sep_q = q.key_roles[..., 1]                          # self-attention: queries are the keys
            rest_q = q.real.float() - sep_q
            n_sep, n_rest = sep_q.sum(-1), rest_q.sum(-1)
            out["sep_sep"] = ((shares[..., 1] * sep_q[:, None]).sum(-1) / n_sep.clamp(min=1)[:, None], n_sep > 0)
            out["rest_sep"] = ((shares[..., 1] * rest_q[:, None]).sum(-1) / n_rest.clamp(min=1)[:, None],
                               n_rest > 0)
        if "sink" in need:
            sink = (shares[..., 0] * k.sink_query[:, None]).sum(-1) / (n - 1).clamp(min=1)
            out["sink"] = (sink, q.n >= 2)
    if "self" in need:
        out["self"] = (torch.diagonal(a, 0, -2, -1).sum(-1) / n, ones)
    if "confidence" in need:
        out["confidence"] = (a.amax(-1).sum(-1) / n, ones)
    if need & {"prev", "next", "diagonal", "vertical"}:
        out.update(_band(a, k, n, ones, need))
    if "distance" in need:
        pos = torch.arange(tk, dtype=a.dtype, device=a.device)
        out["distance"] = ((a * (pos[:, None] - pos[None, :]).abs()).sum((-1, -2)) / n, ones)
    if "pixel_distance" in need:
        out["pixel_distance"] = _pixel_distance(a, q, k)
    if "block" in need:
        out["block"] = (_block(a, k), k.block_valid)
    if "induction" in need:
        out["induction"] = _induction(a, k)
    custom = custom_metrics(metrics)
    if custom:
        out.update(_custom(a, q.real, k, custom, layers))
    if need & {"entropy", "entropy_norm", "cls_entropy"}:
        rows = query_entropy(a, k.n)                             # (B, LH, Tq) per-query entropy
        if "cls_entropy" in need:                                # Clark et al.: the [CLS] (first token) row
            assert isinstance(q, TokenBatch), "cls_entropy is positional: not for cross-attention"
            out["cls_entropy"] = ((rows * q.key_roles[..., 0][:, None]).sum(-1), ones)
        ent = rows.sum(-1) / n                                   # padded query rows give entr(eps) sums: drop them
        ent = ent - _padded_rows_entropy(q, k) / n
        out["entropy"] = (ent, ones)
        out["entropy_norm"] = (ent / torch.log(k.n.clamp(min=2))[:, None], k.n >= 2)
    return out


def _band(a, k: TokenBatch, n, ones, need) -> dict:
    """prev / next / diagonal / vertical from the three central diagonals (padded rows already 0)."""
    same = torch.diagonal(a, 0, -2, -1)                          # A[i, i]
    below = torch.diagonal(a, -1, -2, -1)                        # A[i+1, i]: previous token
    above = torch.diagonal(a, 1, -2, -1)                         # A[i, i+1]: next token
    out = {"prev": (below.sum(-1) / n, ones), "next": (above.sum(-1) / n, ones)}
    plain = 1 - k.key_roles[..., :2].amax(-1)[:, None]           # keys neither first nor [SEP]
    band = (same * plain).sum(-1) + (below * plain[..., :-1]).sum(-1) + (above * plain[..., 1:]).sum(-1)
    out["diagonal"] = (band / n, ones)
    if "vertical" in need:
        off = a.sum(-2) - same                                   # column sums, off the band
        off[..., :-1] -= below
        off[..., 1:] -= above
        top = off.clamp(min=0).topk(min(VERTICAL_COLUMNS, off.shape[-1]), dim=-1).values
        out["vertical"] = (top.sum(-1) / n, ones)
    return out


def _pixel_distance(a: torch.Tensor, q, k: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Dosovitskiy et al. (2021): mean over patch queries of the attention-weighted pixel distance to patch keys.

    The weights of each query row are renormalised over the patch keys; examples without
    patches (text) are undefined.
    """
    b, lh = a.shape[:2]
    if k.patch_xy is None:
        return torch.zeros((b, lh), dtype=a.dtype, device=a.device), torch.zeros(b, dtype=torch.bool, device=a.device)
    patch = ~torch.isnan(k.patch_xy[..., 0])                     # (B, T)
    xy = torch.nan_to_num(k.patch_xy, nan=0.0).to(a.dtype)
    dist = torch.cdist(xy, xy)                                   # (B, T, T) pixels
    keys = patch.to(a.dtype)[:, None, None, :]
    weights = a * keys                                           # patch keys only
    mass = weights.sum(-1)                                       # (B, LH, Tq)
    reach = torch.einsum("bmqk,bqk->bmq", weights, dist[:, :a.shape[2], :])
    per_query = reach / mass.clamp(min=1e-30)
    queries = (patch[:, :a.shape[2]] & q.real.bool()).to(a.dtype)[:, None, :]
    count = queries.sum(-1)
    return (per_query * queries).sum(-1) / count.clamp(min=1), count[:, 0] > 0


def _block(a: torch.Tensor, k: TokenBatch) -> torch.Tensor:
    """Per example: mean over plain queries of their attention on plain keys of their own segment.

    One batched matmul with the (key, segment) one-hot matrix of plain tokens, then
    each query picks its own segment's column.
    """
    b, lh, t, _ = a.shape
    segments = int(k.segment.max()) + 1 if k.segment.numel() else 1
    onehot = torch.nn.functional.one_hot(k.segment, segments).to(a.dtype) * k.block_query[..., None]
    per_segment = torch.bmm(a.reshape(b, lh * t, t), onehot).view(b, lh, t, segments)
    own = per_segment.gather(-1, k.segment[:, None, :, None].expand(-1, lh, -1, 1))[..., 0]
    count = k.block_query.sum(-1).clamp(min=1)[:, None]
    return (own * k.block_query[:, None]).sum(-1) / count


def _induction(a: torch.Tensor, k: TokenBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Olsson et al. (2022): mean of A[i, key_i] over the queries with an induction key (see roles)."""
    if k.induction_key is None:
        raise ValueError("the induction score needs token identities: build the TokenBatch with token_roles")
    key = k.induction_key                                        # (B, T), -1 where none (padded: -1)
    has = key >= 0
    picked = a.gather(-1, key.clamp(min=0)[:, None, :, None].expand(-1, a.shape[1], -1, 1))[..., 0]
    count = has.sum(-1)
    score = (picked * has[:, None].to(a.dtype)).sum(-1) / count.clamp(min=1)[:, None].to(a.dtype)
    return score, count > 0


def _custom(a: torch.Tensor, q_real: torch.Tensor, k: TokenBatch, custom: dict, layers: int) -> dict:
    """Registered statistics (:func:`~attnviz.metrics.definitions.register_metric`), one example at a time.

    Each example's map is cut to its real queries and keys and handed to the user's
    function as numpy (layer, head, query, key); None (or all NaN) marks it undefined.
    """
    b, lh = a.shape[:2]
    out = {}
    for name, metric in custom.items():
        values = torch.full((b, lh), float("nan"), dtype=torch.float64)
        valid = torch.zeros(b, dtype=torch.bool)
        for row in range(b):
            qi, ki = q_real[row].nonzero()[:, 0], k.real[row].nonzero()[:, 0]
            m = a[row][:, qi][:, :, ki].reshape(layers, lh // layers, len(qi), len(ki)).cpu().numpy()
            got = metric.fn(m, k.tokens[row] if k.tokens is not None else None)
            if got is None:
                continue
            got = np.broadcast_to(np.asarray(got, np.float64), (layers, lh // layers))
            if np.isnan(got).all():
                continue
            values[row] = torch.from_numpy(got.reshape(-1).copy())
            valid[row] = True
        out[name] = (values.to(a.device), valid.to(a.device))
    return out


def query_entropy(a: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """Per-query smoothed entropy (Clark et al. 2019), overwriting ``a``; padded keys (A = 0) left out.

    ``a`` is (batch, maps, query, key), ``n`` (batch,) the real keys of each example.
    The one entropy of attnviz: ``A <- (1 - SMOOTHING) A + SMOOTHING / n``,
    ``H_i = -sum_j a ln a`` (nats). Computed over all key columns, then minus the padded
    keys' term, each ``entr(SMOOTHING / n)`` since their weight is 0 before smoothing.

    Example:
        >>> a = torch.full((1, 1, 2, 4), 0.25)
        >>> bool(torch.allclose(query_entropy(a, torch.tensor([4.0])), torch.log(torch.tensor(4.0))))
        True
    """
    n = n.to(a.dtype)
    eps = (SMOOTHING / n)[:, None, None, None]
    torch.add(eps, a, alpha=1 - SMOOTHING, out=a)
    total = torch.special.entr(a, out=a).sum(-1)
    padded = (a.shape[-1] - n)[:, None, None]
    return total - padded * torch.special.entr(eps[..., 0])


def _padded_rows_entropy(q, k: TokenBatch) -> torch.Tensor:
    """What the zeroed padded query rows add to the entropy sum: (n_real_keys) * entr(eps) each."""
    eps = SMOOTHING / k.n
    padded_rows = q.real.shape[-1] - q.n
    return (padded_rows * k.n * torch.special.entr(eps))[:, None]
