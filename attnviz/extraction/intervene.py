"""Interventions on attention: remove edges, scale heads, patch patterns, inside any forward pass.

``with intervene(model, block=..., scale=..., patch=...):`` runs every forward pass inside
through attnviz's own attention function (``"attnviz"``, :mod:`.streaming`) with these edits:

* ``block={(layer, head): edges}``: the scores of the ``(query, key)`` edges are set to -inf
  before the softmax, so each row renormalises over its remaining keys (Geva et al. 2023,
  "Dissecting Recall of Factual Associations"). ``head=None`` blocks the edges in every head
  of the layer; ``edges="all"`` blocks every edge. A row whose every real key is blocked
  attends nowhere: its weights and its output are 0 (the head contributes nothing there).
* ``scale={(layer, head): factor}``: the head's output (its slice of the output projection's
  input) is multiplied by ``factor``; 0 ablates the head.
* ``patch={(layer, head): pattern}``: the head uses another input's attention pattern, a
  (query, key) or (batch, query, key) array or a :class:`~attnviz.Capture` of the same
  lengths (its examples' maps of that layer and head).

Keys are ``(layer, head)`` for the self-attention (an encoder's, or a decoder-only model's)
or ``(kind, layer, head)`` with kind ``"self"``, ``"decoder"`` or ``"cross"`` (encoder-decoder
models). Positions are those of the tensors given to the model (padding included); negative
positions count from the end. The model's causal, padding and sliding-window masks and
position biases stay as they are: an edit only removes more. Layers without an edit run as
without the context (sdpa). :func:`attnviz.extract` inside captures the edited weights.

Example:
    >>> import torch
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("gpt2", head="lm")
    >>> ids = torch.tensor([tok("the cat sat on the mat")["input_ids"]])
    >>> with intervene(model, block={(1, None): [(5, 4)]}):   # token 5 no longer sees token 4 in layer 1
    ...     edited = model(input_ids=ids).logits
    >>> plain = model(input_ids=ids).logits
    >>> bool(torch.equal(edited[0, :5], plain[0, :5])), bool(torch.equal(edited[0, 5], plain[0, 5]))
    (True, False)
"""
from __future__ import annotations

__all__ = ["RowEdits", "intervene", "intervene_rows"]

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from attnviz.capture import ATTENTION_KINDS
from attnviz.extraction import streaming

Key = tuple  # (layer, head) or (kind, layer, head)


@dataclass
class RowEdits:
    """The edits of :func:`intervene` for some rows of the padded batch (``rows=None``: every row).

    ``outputs`` replaces a head's output, (rows, query, head_dim) per key, as a tensor (used by
    :func:`attnviz.metrics.head_patching`).

    Example:
        >>> RowEdits(rows=[0, 2], block={(0, None): "all"}).rows
        [0, 2]
    """

    rows: Sequence[int] | None = None
    block: Mapping[Key, Any] = field(default_factory=dict)
    scale: Mapping[Key, float] = field(default_factory=dict)
    patch: Mapping[Key, Any] = field(default_factory=dict)
    outputs: Mapping[Key, Any] = field(default_factory=dict)


@dataclass
class _Op:
    what: str          # block | scale | patch | output
    head: int | None   # None: every head
    rows: Any          # LongTensor of batch rows or None
    value: Any


class _Edits:
    """The edits of one :func:`intervene` context, per attention site; called from ``attention_forward``."""

    def __init__(self, model: Any, edits: Sequence[RowEdits], record: bool = False) -> None:
        import torch

        self.sites: dict[int, tuple[str, int]] = {}
        for name, module in model.named_modules():
            site = streaming._module_site(name, module)
            if site is not None:
                self.sites[id(module)] = site
        counts: dict[str, int] = {k: 1 + max((l for kk, l in self.sites.values() if kk == k), default=-1) for k in ATTENTION_KINDS}
        self.heads = streaming._config_heads(model.config)
        self.ops: dict[tuple[str, int], list[_Op]] = {}
        self.record = record
        self.recorded: dict[tuple[str, int], tuple[Any, Any]] = {}
        claimed: dict[tuple, str] = {}
        for e in edits:
            rows = None if e.rows is None else torch.as_tensor(list(e.rows), dtype=torch.long)
            for what, table in (("block", e.block), ("scale", e.scale), ("patch", e.patch), ("output", e.outputs)):
                for key, value in table.items():
                    kind, layer, head = self._key(key, counts, what)
                    self._claim(claimed, what, kind, layer, head, e.rows, key)
                    if what == "block" and not (isinstance(value, str) and value == "all"):
                        value = _edges(value, key)
                        if not len(value):
                            continue  # nothing to block: this layer runs as without the context
                    if what == "patch":
                        value = _pattern(value, kind, layer, head)
                    self.ops.setdefault((kind, layer), []).append(_Op(what, head, rows, value))

    def _key(self, key: Any, counts: dict[str, int], what: str) -> tuple[str, int, int | None]:
        if not isinstance(key, tuple) or len(key) not in (2, 3):
            raise TypeError(f"{what} key {key!r}: use (layer, head) or (kind, layer, head); head may be None")
        kind, layer, head = key if len(key) == 3 else ("self", *key)
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"{what} key {key!r}: kind must be one of {', '.join(ATTENTION_KINDS)}")
        if not counts.get(kind):
            have = [k for k in ATTENTION_KINDS if counts.get(k)]
            raise ValueError(f"{what} key {key!r}: this model has no {kind!r} attention; it has {', '.join(have)}")
        if not isinstance(layer, (int, np.integer)) or not -counts[kind] <= layer < counts[kind]:
            raise ValueError(f"{what} key {key!r}: layer must be an int below {counts[kind]}")
        if head is not None and (not isinstance(head, (int, np.integer)) or not 0 <= head < self.heads):
            raise ValueError(f"{what} key {key!r}: head must be None (every head) or an int below {self.heads}")
        if what in ("patch", "output") and head is None:
            raise ValueError(f"{what} key {key!r}: name one head (patterns and outputs are per head)")
        return kind, int(layer) % counts[kind], None if head is None else int(head)

    @staticmethod
    def _claim(claimed: dict, what: str, kind: str, layer: int, head: int | None, rows: Any, key: Any) -> None:
        """Overlapping edits are an error: the same head twice in one table, or blocked and patched."""
        family = "scale" if what == "scale" else "pattern"   # block, patch and output all set the pattern/output
        rowset = None if rows is None else frozenset(int(r) for r in rows)
        for (f, k, l, h, rs), other in claimed.items():
            if (f, k, l) != (family, kind, layer) or not (h is None or head is None or h == head):
                continue
            if rs is None or rowset is None or rs & rowset:
                raise ValueError(f"overlapping edits: {what} {key!r} touches the head(s) that {other} already "
                                 "edits; give each head one block/patch (and at most one scale), e.g. merge the "
                                 "edge lists")
        claimed[(family, kind, layer, head, rowset)] = f"{what} {key!r}"

    # --- called from streaming.attention_forward ---------------------------------------------------
    def site(self, module: Any) -> tuple[str, int] | None:
        site = self.sites.get(id(module))
        if site is None or (site not in self.ops and not self.record):
            return None
        return site

    def forward(self, site, module, query, key, value, mask, dropout, scaling, kwargs, session):
        """The layer's output (batch, query, head, head_dim) with the edits; edited weights to ``session``."""
        import torch

        ops = self.ops.get(site, [])
        batch, heads, tq, tk = query.shape[0], query.shape[1], query.shape[2], key.shape[2]
        blocked = self._blocked(ops, batch, heads, tq, tk, query.device)
        keeps = session is not None and session.keeps(module) is not None
        if keeps and getattr(session, "differentiable", False):
            raise NotImplementedError("relevance/gradients inside attnviz.intervene are not supported yet: run "
                                      "them on the unedited model, or use extract() inside intervene")
        weights, dead = None, None
        if keeps or self.record:  # every row's weights: eager blocks with the edited mask
            edited_mask, dead = (mask, None) if blocked is None else \
                _edited_mask(module, mask, query, key, kwargs, blocked)
            weights = query.new_empty((batch, heads, tq, tk), dtype=torch.float32)

            def gather(first, w):
                weights[:, :, first:first + w.shape[2]] = w

            out = streaming._eager_output(module, query, key, value, edited_mask, dropout, scaling, kwargs,
                                          on_block=gather)
        else:
            out = streaming._layer_output(module, query, key, value, mask, dropout, scaling, kwargs)
            if blocked is not None:  # only the rows that lose an edge are computed again, with their mask
                touched = blocked.any(dim=(1, 3))
                for b in torch.nonzero(touched.any(1)).flatten().tolist():
                    rows = torch.nonzero(touched[b]).flatten()
                    row_mask, row_dead = _edited_mask(module, mask, query, key, kwargs, blocked, slice(b, b + 1), rows)
                    o, _ = streaming._eager_call(module, query, key, value, mask, dropout, scaling, kwargs,
                                                 slice(b, b + 1), rows, block_mask=row_mask)
                    o = o[0]
                    o[row_dead[0].T] = 0  # rows left with no key: 0 weights and output (documented)
                    out[b, rows] = o.to(out.dtype)
        if dead is not None and bool(dead.any()):
            b, h, q = torch.nonzero(dead, as_tuple=True)
            out[b, q, h] = 0
            if weights is not None:
                weights[b, h, q] = 0
        values = None
        for op in ops:
            rows = slice(None) if op.rows is None else op.rows.to(query.device)
            if op.what == "patch":
                if values is None:
                    from attnviz.extraction.direct import _per_query_head

                    values = _per_query_head(value, heads)
                pattern = _fit_pattern(op.value, batch if op.rows is None else len(op.rows), tq, tk, query)
                out[rows, :, op.head] = torch.matmul(pattern.to(values.dtype), values[rows, op.head]).to(out.dtype)
                if weights is not None:
                    weights[rows, op.head] = pattern.float()
            elif op.what == "output":
                out[rows, :, op.head] = op.value.to(out.device, out.dtype)
        for op in ops:
            if op.what == "scale":
                rows = slice(None) if op.rows is None else op.rows.to(query.device)
                heads_ = slice(None) if op.head is None else op.head
                out[rows, :, heads_] = out[rows, :, heads_] * op.value
        if self.record:
            self.recorded[site] = (weights, out.detach().clone())
        if keeps:
            _report(session, site, weights)
        return out

    def _blocked(self, ops, batch, heads, tq, tk, device):
        """Boolean (batch, head, query, key): the edges to remove, or None when no op blocks anything."""
        import torch

        blocks = [op for op in ops if op.what == "block"]
        if not blocks:
            return None
        blocked = torch.zeros((batch, heads, tq, tk), dtype=torch.bool, device=device)
        for op in blocks:
            rows = torch.arange(batch, device=device) if op.rows is None else op.rows.to(device)
            if len(rows) and int(rows.max()) >= batch:
                raise ValueError(f"an edit names batch row {int(rows.max())} but the batch has {batch} rows")
            hs = torch.arange(heads, device=device) if op.head is None else torch.tensor([op.head], device=device)
            if isinstance(op.value, str):  # "all"
                blocked[rows[:, None], hs[None, :]] = True
                continue
            qs, ks = op.value[:, 0], op.value[:, 1]
            if qs.max() >= tq or qs.min() < -tq or ks.max() >= tk or ks.min() < -tk:
                raise ValueError(f"an edge of block {op.value.tolist()} is outside this forward pass's "
                                 f"{tq} queries x {tk} keys: use positions of the tensors given to the model")
            qs_t = torch.as_tensor(qs % tq, device=device)
            ks_t = torch.as_tensor(ks % tk, device=device)
            blocked[rows[:, None, None], hs[None, :, None], qs_t[None, None, :], ks_t[None, None, :]] = True
        return blocked


def _edges(value: Any, key: Any) -> np.ndarray:
    """A list of (query, key) positions as an (n, 2) int array."""
    try:
        arr = np.asarray(list(value), dtype=np.int64).reshape(-1, 2)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"block[{key!r}] = {value!r}: give a list of (query, key) positions or 'all'") from exc
    return arr


def _pattern(value: Any, kind: str, layer: int, head: int | None) -> Any:
    """A patch's pattern as a float tensor (query, key) or (batch, query, key)."""
    import torch

    from attnviz.capture import Capture

    if isinstance(value, Capture):
        layers = list(value.layers if kind == "self" else (value.decoder_layers or value.layers))
        heads = list(value.heads) or list(range(value.num_heads))
        if layer not in layers or head not in heads or value.reduce_heads is not None:
            raise ValueError(f"the Capture given to patch has no {kind} map of layer {layer}, head {head}: "
                             "extract that layer and head (the default keeps all), without reduce_heads")
        maps = [np.asarray(ex.attention(kind))[layers.index(layer), heads.index(head)] for ex in value.examples]
        if len({m.shape for m in maps}) != 1:
            raise ValueError("the Capture given to patch holds texts of different lengths: pass one text, or "
                             "a padded (batch, query, key) tensor")
        return torch.as_tensor(np.stack(maps), dtype=torch.float32)
    t = torch.as_tensor(value, dtype=torch.float32) if not isinstance(value, torch.Tensor) else value
    if t.ndim not in (2, 3):
        raise ValueError(f"a patch pattern has shape {tuple(t.shape)}: use (query, key) or (batch, query, key)")
    return t


def _fit_pattern(pattern: Any, batch: int, tq: int, tk: int, like: Any) -> Any:
    if pattern.shape[-2:] != (tq, tk) or (pattern.ndim == 3 and pattern.shape[0] not in (1, batch)):
        raise ValueError(f"a patch pattern of shape {tuple(pattern.shape)} does not fit this forward pass "
                         f"({batch} rows, {tq} queries x {tk} keys): patch with an input of the same length")
    pattern = pattern.to(like.device)
    return pattern.expand(batch, tq, tk) if pattern.ndim == 2 or pattern.shape[0] == 1 else pattern


def _edited_mask(module, mask, query, key, kwargs, blocked, batch: slice = slice(None), rows=None):
    """The additive mask with the blocked edges at the dtype's minimum, and the rows it leaves no key,
    for the query ``rows`` (default: all) of the examples ``batch``.

    Returns (mask (batch, head, rows, key), dead (batch, head, rows)).
    """
    import torch

    tq, tk = query.shape[2], key.shape[2]
    low = torch.finfo(query.dtype).min
    rows = torch.arange(tq, device=query.device) if rows is None else rows
    blocked = blocked[batch][:, :, rows]
    base = streaming._block_mask(module, mask, batch, rows, query, tq, tk, kwargs)
    full = query.new_zeros(blocked.shape)
    if base is not None:
        full = full + base[..., :tk].to(full.dtype)
    masked = full <= low / 2
    dead = (masked | blocked).all(-1) & ~masked.all(-1)
    return full.masked_fill_(blocked, low), dead


def _report(session: Any, site: tuple[str, int], weights: Any) -> None:
    """Hand the edited (batch, head, query, key) weights to the session, as its own paths would."""
    session.calls += 1
    if session.on_layer is not None:
        session.on_layer(site, weights)
        session.seen.add(site)
        return
    for b, r in enumerate(session.rows[site[0]]):
        session.store(site, b, 0, weights[b][:, r.rows.to(weights.device)])
    session.layer_done()


@contextlib.contextmanager
def intervene_rows(model: Any, edits: Sequence[RowEdits], *, record: bool = False) -> Iterator[_Edits]:
    """:func:`intervene` with edits per batch row (several interventions in one padded batch).

    With ``record=True`` every layer's edited weights and head outputs are kept in the yielded
    object's ``recorded[(kind, layer)]`` as ((batch, head, query, key), (batch, query, head, dim)).

    Example:
        >>> import torch
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2", head="lm")
        >>> ids = torch.tensor([tok("the cat sat")["input_ids"]] * 2)
        >>> with intervene_rows(model, [RowEdits(rows=[1], scale={(0, 1): 0.0})]):
        ...     logits = model(input_ids=ids).logits
        >>> bool(torch.equal(logits[0], logits[1]))
        False
    """
    from attnviz.modeling import _set_attention

    if streaming.EDITS.get() is not None:
        raise RuntimeError("attnviz.intervene is already active: nested interventions are not supported; "
                           "put all the edits into one intervene(...) call")
    streaming.register()
    state = _Edits(model, edits, record=record)
    original = getattr(model.config, "_attn_implementation", None)
    switched = isinstance(original, str) and original != streaming.NAME
    if switched:
        _set_attention(model, streaming.NAME)
    token = streaming.EDITS.set(state)
    try:
        yield state
    finally:
        streaming.EDITS.reset(token)
        if switched and isinstance(original, str):
            _set_attention(model, original)


def intervene(model: Any, *, block: Mapping[Key, Any] | None = None, scale: Mapping[Key, float] | None = None,
              patch: Mapping[Key, Any] | None = None) -> contextlib.AbstractContextManager[Any]:
    """Context manager: every forward pass of ``model`` inside runs with these attention edits.

    Args:
        model: a loaded transformers model (any family attnviz supports).
        block: ``{(layer, head): edges}``, edges a list of (query, key) positions or ``"all"``;
            ``head=None`` for every head of the layer. Scores set to -inf before the softmax.
        scale: ``{(layer, head): factor}``: the head's output times ``factor`` (0 = ablation);
            ``head=None`` scales every head of the layer.
        patch: ``{(layer, head): pattern}``: the head uses this (query, key) or (batch, query,
            key) attention pattern, or a Capture's map of that head (same lengths).

    Keys may name the kind: ``("cross", layer, head)``. The same head blocked twice, or blocked
    and patched, or an ``intervene`` inside another is an error. The attention implementation
    is restored on exit, also after an exception.

    Example:
        >>> import torch
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bert")
        >>> ids = torch.tensor([tok("a good film")["input_ids"]])
        >>> with intervene(model, block={(1, None): [(0, 1), (0, 2)]}):
        ...     out = model(input_ids=ids).last_hidden_state
        >>> model.config._attn_implementation
        'sdpa'
    """
    return intervene_rows(model, [RowEdits(rows=None, block=dict(block or {}), scale=dict(scale or {}),
                                           patch=dict(patch or {}))])
