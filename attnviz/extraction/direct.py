"""Plain scaled dot-product weights written straight into the kept arrays (no copy).

When every head and row of a layer is kept, the family's eager function would compute each
block of weights in memory of its own, which then has to be copied into the example's array:
for every layer of a long input that copy into fresh memory cost as much as a third of the
forward pass. For the common families the weights are plain ``softmax(q k^T * scaling + mask)``,
so here they are computed in place, one head and block of rows at a time, inside the kept
(head, query, key) array of each example, over its real keys only (padded keys carry the
mask's minimum, whose exponential is exactly 0, so the softmax over the real keys is the same).
A block that holds every row of an example is done for all heads in one batched product.

Exactness is not assumed: the first time a module class is seen (per signature of its extra
arguments), one block is also computed with the family's own eager function and the two must
agree within :data:`TOLERANCE`; otherwise that class uses the eager blocks from then on
(GPT-2's extra scalings, T5's position bias and Gemma-2's soft-capping are caught this way or
before, by :func:`eligible`).

Example:
    >>> import torch
    >>> eligible(None, torch.zeros(1, 2, 3, 4), {}, 0.0, "float32")
    True
    >>> eligible(None, torch.zeros(1, 2, 3, 4), {"softcap": 50.0}, 0.0, "float32")
    False
"""
from __future__ import annotations

__all__ = ["CHECK_ROWS", "TOLERANCE", "eligible", "layer_output", "padded_output", "write_padded", "write_weights"]

from typing import Any

import numpy as np  # noqa: F401 (used in the examples)

#: Largest difference from the family's eager weights accepted when a module class is checked.
TOLERANCE = 1e-6
#: Query rows of the first block computed both ways for that check.
CHECK_ROWS = 8

# (module class, extra keyword names) -> whether the plain formula matched the eager function
_CHECKED: dict[tuple, bool] = {}


def eligible(module: Any, query: Any, kwargs: dict, dropout: float, dtype: str) -> bool:
    """Whether a layer call can use the in-place formula (before the one-time check against eager).

    Float32 queries and storage, no dropout in training, no soft-capping or attention sinks,
    and no per-row bias tensors (T5's ``position_bias``).

    Example:
        >>> import torch
        >>> q = torch.zeros(1, 2, 3, 4)
        >>> eligible(None, q, {}, 0.0, "float32"), eligible(None, q, {}, 0.0, "float16")
        (True, False)
    """
    import torch

    if dtype != "float32" or query.dtype != torch.float32:
        return False
    if dropout and getattr(module, "training", False):
        return False
    if any(kwargs.get(k) is not None for k in ("softcap", "s_aux", "position_bias", "head_mask")):
        return False
    if any(isinstance(v, torch.Tensor) and v.ndim == 4 for v in kwargs.values()):
        return False
    return _CHECKED.get(_signature(module, kwargs), True)


def _signature(module: Any, kwargs: dict) -> tuple:
    return type(module), tuple(sorted(k for k, v in kwargs.items() if v is not None))


def write_weights(session: Any, site: tuple[str, int], module: Any, query: Any, key: Any, mask: Any,
                  scaling: float | None, kwargs: dict, block_mask: Any, chunks: Any, eager_block: Any) -> bool:
    """Compute every kept example's weights of this layer in place; False if the class failed its check.

    ``block_mask(batch_slice, rows)`` gives the additive mask of a block (or None),
    ``chunks(rows, per_row)`` splits rows into blocks, ``eager_block(batch_slice, rows)`` runs the
    family's eager function (for the one-time check). Called by the ``"attnviz"`` attention
    function when a session keeps every head and row of a layer:

    Example:
        >>> import torch
        >>> from attnviz.testing import tiny_model
        >>> from attnviz.modeling import inspection_mode
        >>> from attnviz.extraction.streaming import NAME, Rows, Session
        >>> model, tok = tiny_model("llama")
        >>> ids = torch.tensor([tok("the cat sat on the mat")["input_ids"]])
        >>> n = ids.shape[1]
        >>> session = Session(model, layers=None, heads=None)
        >>> session.begin_batch({"self": [Rows(torch.arange(n), 0, n, every_row=True)]})
        >>> with inspection_mode(model, implementation=NAME), session.active():
        ...     _ = model(input_ids=ids)             # each layer's weights written in place
        >>> weights = session.result("self", 0)      # (layer, head, query, key)
        >>> bool(abs(weights.sum(-1) - 1).max() < 1e-5), bool((weights[0, 0, 0, 1:] == 0).all())
        (True, True)
    """
    import torch

    kind, layer = site
    keys, scale = _keys_and_scale(query, key, scaling)
    position = session.kept_layers(kind).index(layer)
    signature = _signature(module, kwargs)
    for b, r in enumerate(session.rows[kind]):
        dst = torch.from_numpy(session.out[kind][b][position])  # (head, row, real key), float32
        top = int(r.rows[0])
        for chunk in chunks(r.rows, r.stop - r.start):
            lo, hi = int(chunk[0]), int(chunk[-1]) + 1
            add = block_mask(slice(b, b + 1), chunk)
            add = None if add is None else add[0, 0, :, r.start:r.stop]
            whole = lo == top and hi - top == dst.shape[1]  # the block is every row: contiguous over heads
            for h in [slice(None)] if whole else range(query.shape[1]):
                out = dst[h] if whole else dst[h, lo - top:hi - top]
                torch.matmul(query[b, h, lo:hi], keys[b, h, r.start:r.stop].transpose(-1, -2), out=out)
                out.mul_(scale)
                if add is not None:
                    out.add_(add)
                torch.softmax(out, dim=-1, out=out)
            if signature not in _CHECKED:  # a few rows suffice to tell the formula apart; more would cost memory
                probe = chunk[:CHECK_ROWS]
                _CHECKED[signature] = _agrees(eager_block(slice(b, b + 1), probe),
                                              dst[:, lo - top:lo - top + len(probe)], r)
                if not _CHECKED[signature]:
                    return False
    return True


def write_padded(weights: Any, session: Any, site: tuple[str, int], module: Any, query: Any, key: Any,
                 scaling: float | None, kwargs: dict, block_mask: Any, eager_block: Any) -> bool:
    """The whole batch's weights of this layer in place in ``weights`` (batch, head, query, key); as above.

    For a session with ``on_layer``, which wants the padded weights: one batched product over
    every example, row and head (no loop over examples). Padded keys come out exactly 0, as in
    eager weights (the mask's minimum); rows of padding hold what eager attention gives them.
    The same one-time check against the family's eager function, on the first example's real rows.

    Example (what :func:`attnviz.metrics.dataset_stats` does; ``got`` keeps the weights here):
        >>> import torch
        >>> from attnviz import extraction, modeling, testing
        >>> got = []
        >>> model, tok = testing.tiny_model("gpt2")
        >>> ids = torch.tensor([tok("the cat sat on the mat")["input_ids"][:3]])
        >>> s = extraction.streaming.Session(model, layers=[0], heads=None, on_layer=lambda site, w: got.append(w))
        >>> s.begin_batch({"self": [extraction.streaming.Rows(torch.arange(3), 0, 3, every_row=True)]})
        >>> with modeling.inspection_mode(model, implementation="attnviz"), s.active():
        ...     _ = model(input_ids=ids)
        >>> len(got), tuple(got[0].shape), bool(abs(got[0].sum(-1) - 1).max() < 1e-5)
        (1, (1, 4, 3, 3), True)
    """
    import torch

    keys, scale = _keys_and_scale(query, key, scaling)
    torch.matmul(query, keys.transpose(-1, -2), out=weights)
    weights.mul_(scale)
    add = block_mask(slice(None), torch.arange(query.shape[2], device=query.device))
    if add is not None:
        weights.add_(add)
    torch.softmax(weights, dim=-1, out=weights)
    signature = _signature(module, kwargs)
    if signature not in _CHECKED:
        r = session.rows[site[0]][0]
        probe = r.rows[:CHECK_ROWS]
        _CHECKED[signature] = _agrees(eager_block(slice(0, 1), probe), weights[0][:, probe, r.start:r.stop], r)
    return _CHECKED[signature]


def padded_output(weights: Any, value: Any) -> Any:
    """The layer's attention output (batch, query, head, head_dim) from :func:`write_padded`'s weights.

    Example:
        >>> import torch
        >>> padded_output(torch.full((1, 2, 2, 2), 0.5), torch.arange(8.0).reshape(1, 2, 2, 2))[0, 0]
        tensor([[1., 2.],
                [5., 6.]])
    """
    import torch

    return torch.matmul(weights, _per_query_head(value, weights.shape[1])).transpose(1, 2).contiguous()


def _keys_and_scale(query: Any, key: Any, scaling: float | None) -> tuple[Any, float]:
    """Keys repeated to the query heads (grouped-query attention), and the scaling of the scores."""
    return _per_query_head(key, query.shape[1]), float(scaling) if scaling is not None else query.shape[-1] ** -0.5


def _per_query_head(kv: Any, query_heads: int) -> Any:
    """Key or value heads (batch, kv head, key, dim) repeated to the query heads (grouped-query attention)."""
    groups = query_heads // kv.shape[1]
    return kv.repeat_interleave(groups, dim=1) if groups > 1 else kv


def _agrees(eager_weights: Any, ours: Any, rows: Any) -> bool:
    """The family's eager weights of one block against ours, on the real keys."""
    theirs = eager_weights[0, :, :, rows.start:rows.stop].float()
    return bool(theirs.shape == ours.shape and (theirs - ours).abs().max() <= TOLERANCE)


def layer_output(session: Any, site: tuple[str, int], query: Any, value: Any) -> Any:
    """The layer's attention output from the weights just written: (batch, query, head, head_dim).

    Each example's rows are its weights times its real values; rows of padding are 0 (their
    output only ever meets keys that the mask gives weight exactly 0, and they are cropped).

    Example:
        >>> import torch
        >>> from types import SimpleNamespace
        >>> from attnviz.extraction.streaming import Rows
        >>> weights = np.full((1, 2, 2, 2), 0.5, "float32")           # (layer, head, query, key)
        >>> session = SimpleNamespace(kept_layers=lambda kind: [0], out={"self": [weights]},
        ...                           rows={"self": [Rows(torch.arange(2), 0, 2, True)]})
        >>> value = torch.arange(8.0).reshape(1, 2, 2, 2)              # (batch, kv head, key, dim)
        >>> layer_output(session, ("self", 0), torch.zeros(1, 2, 2, 2), value)[0, 0]
        tensor([[1., 2.],
                [5., 6.]])
    """
    import torch

    kind, layer = site
    values = _per_query_head(value, query.shape[1])
    position = session.kept_layers(kind).index(layer)
    out = query.new_zeros(query.shape[:3] + values.shape[-1:])  # (batch, head, query, head_dim)
    for b, r in enumerate(session.rows[kind]):
        weights = torch.from_numpy(session.out[kind][b][position])
        top = int(r.rows[0])
        out[b, :, top:top + weights.shape[1]] = torch.matmul(weights, values[b, :, r.start:r.stop])
    return out.transpose(1, 2).contiguous()
