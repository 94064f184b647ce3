"""Attention weights layer by layer: an attention function of our own, registered with transformers.

Asking a model for ``output_attentions=True`` makes every layer's full (batch x head x T x T)
maps exist at once. Here the model runs with the attention implementation ``"attnviz"``
(registered with ``transformers.AttentionInterface``): every layer computes its output with
sdpa, and only the *kept* layers compute weights, block by block over the query rows, with the
model family's own eager function (so GQA, masks, sliding windows, T5's position bias and
Gemma-2's soft-capping come out exactly as in eager attention). Each block is cut to the kept
heads, rows and the example's real keys, optionally reduced over heads, converted to the
storage dtype and copied to the CPU at once; nothing else of it is kept.

On an accelerator the kept arrays are pinned host memory and each block is converted on the
device and copied with ``non_blocking=True``, so the copies overlap the forward pass; the
session waits for them once per kept layer (:meth:`Session.layer_done`), never per block.

A :class:`Session` says what to keep and receives the blocks; :func:`attnviz.extract` drives
it through :class:`attnviz.extraction.batching.BatchRunner`.

Example:
    >>> import torch
    >>> from attnviz.testing import tiny_model
    >>> from attnviz.modeling import inspection_mode
    >>> model, tok = tiny_model("gpt2")
    >>> ids = torch.tensor([tok("the cat sat")["input_ids"]])
    >>> session = Session(model, layers=[1], heads=None)
    >>> session.begin_batch({"self": [Rows(torch.arange(ids.shape[1]), 0, ids.shape[1], every_row=True)]})
    >>> with inspection_mode(model, implementation=NAME), session.active():
    ...     _ = model(input_ids=ids)
    >>> session.result("self", 0).shape == (1, 4, ids.shape[1], ids.shape[1])
    True
"""
from __future__ import annotations

__all__ = ["NAME", "EnoughLayers", "Rows", "Session", "register", "release_freed_memory", "resolve_queries"]

import contextlib
import contextvars
import re
import sys
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from attnviz.capture import ATTENTION_KINDS
from attnviz.families import CROSS_NAMES, model_dims  # cross-attention module names; layer and head counts

NAME = "attnviz"
BLOCK_BYTES = 32 * 2**20  # upper bound on one block of float32 scores (batch x head x rows x keys)

_ACTIVE: contextvars.ContextVar[Session | None] = contextvars.ContextVar("attnviz_session", default=None)
#: The edits of an active :func:`attnviz.intervene` (:mod:`.intervene` holds their logic).
EDITS: contextvars.ContextVar[Any] = contextvars.ContextVar("attnviz_edits", default=None)


def register() -> None:
    """Register the ``"attnviz"`` attention function and its (sdpa-style) mask with transformers.

    Idempotent. Example:
        >>> register(); register()
        >>> from transformers import AttentionInterface
        >>> NAME in AttentionInterface._global_mapping
        True
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    release_freed_memory()
    if NAME not in AttentionInterface._global_mapping:
        AttentionInterface.register(NAME, attention_forward)
    if NAME not in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping:
        ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)


#: Allocations from this size up get pages of their own, returned to the system when freed (glibc).
MMAP_THRESHOLD = 2**20
_ALLOCATOR: list[bool] = []


def release_freed_memory() -> bool:
    """Make freed tensor memory go back to the system (glibc's malloc); True where it was set.

    glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so a
    forward pass's layer-sized temporaries (q, k, v, the MLP's) soon come from the heap, whose
    freed memory is kept: a long input's resident memory then grew layer after layer (230 MiB
    over GPT-2-small at 2,048 tokens while keeping nothing) and a second call started where the
    first left off. A fixed threshold of :data:`MMAP_THRESHOLD` stops that. Process-wide, set
    once (by :func:`register`); nothing happens off glibc or with ``ATTNVIZ_MALLOC=keep``.

    Example:
        >>> release_freed_memory() in (True, False)
        True
    """
    if not _ALLOCATOR:
        import ctypes
        import os

        ok = False
        if sys.platform.startswith("linux") and os.environ.get("ATTNVIZ_MALLOC") != "keep":
            try:
                ok = bool(ctypes.CDLL("libc.so.6").mallopt(-3, MMAP_THRESHOLD))  # M_MMAP_THRESHOLD
            except (OSError, AttributeError):
                ok = False
        _ALLOCATOR.append(ok)
    return _ALLOCATOR[0]


class EnoughLayers(Exception):
    """Raised by the attention function once every kept layer is stored, with ``Session.stop_early``.

    The layers after the last kept one would compute outputs that nobody reads: the forward
    pass stops there (the caller catches this).

    Example:
        >>> issubclass(EnoughLayers, Exception)
        True
    """


@dataclass
class Rows:
    """Which rows of one example to keep: padded query ``rows`` and the key columns ``start:stop``.

    Example:
        >>> import torch
        >>> Rows(torch.tensor([2]), 0, 3).stop
        3
    """

    rows: Any  # 1-D LongTensor of query positions in the padded batch
    start: int
    stop: int
    every_row: bool = False  # rows are all the example's real rows, contiguous


def resolve_queries(spec: Any, length: int) -> list[int]:
    """Token positions (0-based, ascending, unique) that a query spec keeps in a ``length``-token text.

    ``spec``: None (every row), ``"last"``, an int, a list of ints (negative counts from the
    end) or a slice.

    Example:
        >>> resolve_queries("last", 5), resolve_queries([0, -1], 5), resolve_queries(slice(1, 3), 5)
        ([4], [0, 4], [1, 2])
    """
    if spec is None:
        return list(range(length))
    if isinstance(spec, str):
        if spec != "last":
            raise ValueError(f"queries={spec!r}: use 'last', a list of positions or a slice")
        return [length - 1]
    if isinstance(spec, slice):
        kept = list(range(length))[spec]
        if not kept:
            raise ValueError(f"queries={spec} keeps no row of a {length}-token text: widen the slice")
        return kept
    positions = [spec] if isinstance(spec, (int, np.integer)) else list(spec)
    if not positions:
        raise ValueError("queries= is an empty list: give at least one position, 'last' or a slice")
    out = []
    for p in positions:
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
            raise TypeError(f"queries holds {p!r}: positions must be ints (negative counts from the end)")
        if not -length <= p < length:
            raise ValueError(f"query position {p} is out of range for a text of {length} tokens: "
                             f"use -{length} to {length - 1}")
        out.append(int(p) % length)
    return sorted(set(out))


def query_spec_json(spec: Any) -> Any:
    """The JSON form of a query spec, as recorded in ``Capture.queries``.

    Example:
        >>> query_spec_json(slice(0, 4)), query_spec_json([-1])
        ({'start': 0, 'stop': 4, 'step': None}, [-1])
    """
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, slice):
        return {"start": spec.start, "stop": spec.stop, "step": spec.step}
    if isinstance(spec, (int, np.integer)):
        return [int(spec)]
    return [int(p) for p in spec]


def attention_site(name: str) -> tuple[str, int] | None:
    """(kind, layer) of an attention module from its qualified name, or None if it is not one.

    Example:
        >>> attention_site("model.decoder.layers.3.encoder_attn")
        ('cross', 3)
        >>> attention_site("transformer.h.1.attn")
        ('self', 1)
    """
    numbers = re.findall(r"\.(\d+)(?:\.|$)", "." + name)
    if not numbers:
        return None
    parts = name.split(".")
    if any(p in CROSS_NAMES for p in parts):
        return "cross", int(numbers[0])
    decoder = "decoder" in parts
    return ("decoder" if decoder else "self"), int(numbers[0])


class Session:
    """What to keep of the attention weights, and where the kept blocks go.

    Args:
        model: the model (its attention modules are found by name).
        layers: model layer indices to keep (None: all), for every kind.
        heads: head indices to keep (None: all).
        reduce_heads: None, "mean" or "max" over the kept heads (the head axis becomes 1).
        dtype: storage dtype of the kept maps.
        on_layer: instead of keeping maps, call ``on_layer((kind, layer), weights)`` with each kept
            layer's padded float32 (batch, head, query, key) weights as soon as they are computed,
            then drop them (used by :func:`attnviz.metrics.dataset_stats`: one layer at a time). With
            every row of every example in ``begin_batch`` and a plain scaled-dot-product family, the
            whole batch's weights are computed in place (:func:`.direct.write_padded`); else by eager blocks.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> s = Session(tiny_model("bert")[0], layers=[1], heads=[0, 2])
        >>> s.kept_layers("self")
        [1]
    """

    differentiable = False  # True in .gradients.GradientSession: the layer's output comes from kept weights

    def __init__(self, model: Any, *, layers: Sequence[int] | None, heads: Sequence[int] | None,
                 num_heads: int | None = None, reduce_heads: str | None = None, dtype: str = "float32",
                 on_layer: Any = None) -> None:
        register()  # the session works through the "attnviz" attention function
        self.sites: dict[int, tuple[str, int]] = {}
        for name, module in model.named_modules():
            site = _module_site(name, module)
            if site is not None:
                self.sites[id(module)] = site
        self.layers = None if layers is None else sorted(set(layers))
        self.heads = None if heads is None else list(heads)
        self.reduce = reduce_heads
        self.np_dtype = np.dtype(dtype)
        self.num_heads = int(num_heads or _config_heads(model.config))
        self.counts: dict[str, int] = {k: 1 + max((l for kk, l in self.sites.values() if kk == k), default=-1)
                                       for k in ATTENTION_KINDS}
        self.rows: dict[str, list[Rows]] = {}
        self.out: dict[str, list[np.ndarray]] = {}
        self.seen: set[tuple[str, int]] = set()
        self.calls = 0
        self.on_layer = on_layer
        from attnviz.modeling import input_device

        self.device = input_device(model)
        self.pinned = not _on_host(self.device)  # kept arrays in pinned memory, copies without waiting
        self.pending = False                     # non-blocking copies not yet waited for
        self.stop_early = False                  # raise EnoughLayers once every kept layer is stored

    def kept_layers(self, kind: str) -> list[int]:
        """The model layers of ``kind`` whose weights are kept."""
        total = self.counts.get(kind, 0)
        return [l for l in (self.layers if self.layers is not None else range(total)) if l < total]

    def begin_batch(self, rows: dict[str, list[Rows]]) -> None:
        """Say which rows/columns of each example to keep for the next forward pass, per kind."""
        import torch

        self.rows, self.out, self.seen = rows, {}, set()
        dtype = getattr(torch, self.np_dtype.name)
        for kind, per_example in rows.items():
            if self.on_layer is not None:  # the weights go to on_layer, one layer at a time
                continue
            n_layers = len(self.kept_layers(kind))
            # allocated by torch: numpy asks the kernel for huge pages on large arrays, and on a busy
            # machine the compaction that triggers made the first write of the maps ~25% slower overall
            self.out[kind] = [_host_buffer((n_layers, self._out_heads(kind), len(r.rows), r.stop - r.start),
                                           dtype, self.pinned).numpy() for r in per_example]

    def _out_heads(self, kind: str) -> int:
        if self.reduce is not None:
            return 1
        if self.heads is not None:
            return len(self.heads)
        return self.num_heads

    def result(self, kind: str, index: int) -> np.ndarray:
        """The kept (layer, head, row, key) array of example ``index`` for ``kind``."""
        return self.out[kind][index]

    def missing(self) -> list[tuple[str, int]]:
        """Kept (kind, layer) pairs that no attention call delivered in the last pass."""
        return [(k, l) for k in self.rows for l in self.kept_layers(k) if (k, l) not in self.seen]

    def forward(self, site: tuple[str, int], module: Any, query: Any, key: Any, value: Any, mask: Any,
                dropout: float, scaling: float | None, kwargs: dict[str, Any]) -> Any:
        """A differentiable session's layer output (see :class:`.gradients.GradientSession`)."""
        raise NotImplementedError("only a GradientSession computes the layer's output itself")

    @contextlib.contextmanager
    def active(self) -> Iterator[Session]:
        """Make this the session the registered attention function reports to."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)

    # --- called from attention_forward --------------------------------------------------
    def keeps(self, module: Any) -> tuple[str, int] | None:
        site = self.sites.get(id(module))
        if site is None or site[0] not in self.rows or site[1] not in self.kept_layers(site[0]):
            return None
        return site

    def store(self, site: tuple[str, int], example: int, first: int, weights: Any) -> None:
        """Cut one block (head, rows, padded keys) of one example and copy it into its array."""
        import torch

        kind, layer = site
        r = self.rows[kind][example]
        block = weights[..., r.start:r.stop]
        if self.heads is not None:
            block = block[self.heads]
        if self.reduce == "mean":
            block = block.float().mean(0, keepdim=True)
        elif self.reduce == "max":
            block = block.amax(0, keepdim=True)
        dst = self.out[kind][example][self.kept_layers(kind).index(layer)]
        if not _on_host(block.device):  # converted there, copied into pinned memory without waiting
            target = torch.from_numpy(dst[:, first:first + block.shape[1]])
            _copy_to_host(target, block.detach().to(target.dtype))
            self.pending = True
            self.seen.add(site)
            return
        # numpy's copy is single-threaded: on a busy machine torch's threaded copy of the same
        # bytes was 10-20x slower; a block on an accelerator comes to the CPU first
        block = block.detach().to("cpu")
        if block.dtype == torch.bfloat16:  # numpy has no bfloat16
            block = block.float()
        np.copyto(dst[:, first:first + block.shape[1]], block.numpy(), casting="same_kind")
        self.seen.add(site)


    def layer_done(self) -> None:
        """Wait once for the layer's non-blocking copies (on an accelerator; nothing on the CPU); with
        ``stop_early``, raise :class:`EnoughLayers` once every kept layer is stored."""
        if self.pending:
            _synchronize(self.device)
            self.pending = False
        if self.stop_early and not self.missing():
            raise EnoughLayers


def _on_host(device: Any) -> bool:
    """Whether tensors on ``device`` are in host memory (the CPU; 'meta' holds no data)."""
    return getattr(device, "type", str(device)) in ("cpu", "meta")


def _copy_to_host(target: Any, block: Any) -> None:
    """Copy an accelerator ``block`` into the pinned host ``target`` without waiting.

    torch copies into a host tensor that is not contiguous through a pageable temporary, which
    waits for the device and copies twice; a block of some query rows is such a target (its rows
    are strided by head). So each head's rows, contiguous in the kept array, are copied on their own.
    """
    if target.is_contiguous():
        target.copy_(block, non_blocking=True)
        return
    for piece, part in zip(target, block, strict=True):
        _copy_to_host(piece, part)


def _host_buffer(shape: tuple, dtype: Any, pinned: bool) -> Any:
    """An empty host tensor for kept maps, pinned (page-locked) for non-blocking copies from an accelerator."""
    import torch

    return torch.empty(shape, dtype=dtype, pin_memory=pinned)


def _synchronize(device: Any) -> None:
    """Wait for the work queued on ``device`` (the layer's copies to the host)."""
    import torch

    torch.accelerator.synchronize(device)


def _module_site(name: str, module: Any) -> tuple[str, int] | None:
    """(kind, layer) for modules that call the attention interface (they have an eager function)."""
    if not name or _eager_function(module) is None:
        return None
    if not any(hasattr(module, a) for a in ("scaling", "is_causal", "head_dim", "num_heads", "n_heads")):
        return None
    return attention_site(name)


def _config_heads(cfg: Any) -> int:
    heads = model_dims(cfg)["heads"]
    if heads is None:
        raise ValueError("the model's config names no number of attention heads: pass num_heads=")
    return heads


def _eager_function(module: Any):
    mod = sys.modules.get(type(module).__module__)
    return getattr(mod, "eager_attention_forward", None)


# --- the registered attention function ------------------------------------------------------
def attention_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                      dropout: float = 0.0, scaling: float | None = None, **kwargs: Any):
    """The ``"attnviz"`` attention: sdpa output, weights only where a :class:`Session` keeps them.

    Without an active session it is plain sdpa (eager where sdpa cannot compute the layer,
    e.g. Gemma-2's soft-capping). Returns ``(output, None)``: the weights go to the session.

    Example:
        >>> import torch
        >>> from attnviz.testing import tiny_model
        >>> attn = tiny_model("gpt2")[0].h[0].attn
        >>> q = torch.randn(1, 4, 3, 8)
        >>> out, w = attention_forward(attn, q, q, q, None, scaling=8 ** -0.5)
        >>> out.shape, w
        (torch.Size([1, 3, 4, 8]), None)
    """
    session = _ACTIVE.get()
    edits = EDITS.get()
    edited = edits.site(module) if edits is not None else None
    if edited is not None:  # an attnviz.intervene edits this layer; it reports to the session itself
        return edits.forward(edited, module, query, key, value, attention_mask, dropout, scaling, kwargs,
                             session), None
    site = session.keeps(module) if session is not None else None
    if session is None or site is None:
        return _layer_output(module, query, key, value, attention_mask, dropout, scaling, kwargs), None
    if session.differentiable:  # a GradientSession (.gradients): weights kept in the autograd graph
        return session.forward(site, module, query, key, value, attention_mask, dropout, scaling, kwargs), None
    session.calls += 1
    full = session.heads is None and session.reduce is None and all(r.every_row for r in session.rows[site[0]])
    if session.on_layer is not None:
        if full and session.rows[site[0]]:
            out = _direct_to_callback(session, site, module, query, key, value, attention_mask, dropout, scaling,
                                      kwargs)
            if out is not None:
                return out, None
        return _eager_to_callback(session, site, module, query, key, value, attention_mask, dropout, scaling,
                                  kwargs), None
    if full:
        if _direct(session, site, module, query, key, value, attention_mask, dropout, scaling, kwargs):
            from attnviz.extraction.direct import layer_output

            session.layer_done()
            return layer_output(session, site, query, value), None
        out = _eager_all_rows(session, site, module, query, key, value, attention_mask, dropout, scaling, kwargs)
        session.layer_done()
        return out, None
    for b, r in enumerate(session.rows[site[0]]):
        _eager_rows(module, query, key, value, attention_mask, dropout, scaling, kwargs, b, r.rows,
                    lambda first, w, o, b=b: session.store(site, b, first, w[0]))
    session.layer_done()
    return _layer_output(module, query, key, value, attention_mask, dropout, scaling, kwargs), None


def _layer_output(module, query, key, value, mask, dropout, scaling, kwargs):
    """The layer's output without weights: sdpa, or blockwise eager where sdpa cannot do it."""
    if kwargs.get("softcap") is not None or kwargs.get("s_aux") is not None:
        return _eager_output(module, query, key, value, mask, dropout, scaling, kwargs)
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    if groups > 1 and mask is None and query.device.type == "cuda" and query.dtype.itemsize == 4:
        # transformers asks sdpa for grouped-query attention here, which only its flash kernel (half
        # precision) fuses: in float32 it falls back to the math kernel, which holds the whole
        # (heads x T x T) scores. Repeated keys and values let the memory-efficient kernel run.
        key, value, module = repeat_kv(key, groups), repeat_kv(value, groups), _Ungrouped(module)
    return sdpa_attention_forward(module, query, key, value, mask, dropout=dropout, scaling=scaling, **kwargs)[0]


class _Ungrouped:
    """An attention module as seen by transformers' sdpa function once keys and values are repeated."""

    num_key_value_groups = 1

    def __init__(self, module: Any):
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


def _eager_output(module, query, key, value, mask, dropout, scaling, kwargs, on_block=None):
    """The family's eager attention, block by block over the query rows of the whole batch."""
    import torch

    out = None
    rows_all = torch.arange(query.shape[2], device=query.device)
    for chunk in _chunks(rows_all, query.shape[0] * query.shape[1] * key.shape[2]):
        o, w = _eager_call(module, query, key, value, mask, dropout, scaling, kwargs, slice(None), chunk)
        if out is None:
            out = o.new_empty((query.shape[0], query.shape[2]) + tuple(o.shape[2:]))
        out[:, chunk] = o
        if on_block is not None:
            on_block(int(chunk[0]), w)
    return out


def _direct(session, site, module, query, key, value, mask, dropout, scaling, kwargs, padded=None) -> bool:
    """Every row and head kept, plain scaled dot product: weights computed in place (see :mod:`.direct`).

    Into the session's kept arrays, or into ``padded`` (batch, head, query, key) when given.
    """
    from attnviz.extraction import direct

    if not direct.eligible(module, query, kwargs, dropout, session.np_dtype.name):
        return False
    if padded is None and not _on_host(query.device):  # the kept arrays are host memory: blocks are copied
        return False
    tq, tk = query.shape[2], key.shape[2]
    hooks = {"block_mask": lambda batch, rows: _block_mask(module, mask, batch, rows, query, tq, tk, kwargs),
             "eager_block": lambda batch, rows: _eager_call(module, query, key, value, mask, dropout, scaling,
                                                            kwargs, batch, rows)[1]}
    if padded is not None:
        done = direct.write_padded(padded, session, site, module, query, key, scaling, kwargs, **hooks)
    else:
        done = direct.write_weights(session, site, module, query, key, mask, scaling, kwargs, chunks=_chunks,
                                    **hooks)
    if done:
        session.seen.add(site)
    return done


def _direct_to_callback(session, site, module, query, key, value, mask, dropout, scaling, kwargs):
    """:func:`_direct` for ``on_layer``: the padded weights of the whole batch, then the output; None if not eligible."""
    import torch

    weights = torch.empty((query.shape[0], query.shape[1], query.shape[2], key.shape[2]), dtype=torch.float32,
                          device=query.device)
    if not _direct(session, site, module, query, key, value, mask, dropout, scaling, kwargs, padded=weights):
        return None
    from attnviz.extraction.direct import padded_output

    out = padded_output(weights, value)
    session.on_layer(site, weights)
    return out


def _eager_all_rows(session, site, module, query, key, value, mask, dropout, scaling, kwargs):
    """Every row and head kept: eager blocks give both the output and the weights."""
    def keep(first, w):
        for b, r in enumerate(session.rows[site[0]]):
            top, bottom = int(r.rows[0]), int(r.rows[-1]) + 1
            lo, hi = max(first, top), min(first + w.shape[2], bottom)
            if lo < hi:
                session.store(site, b, lo - top, w[b, :, lo - first:hi - first])
    return _eager_output(module, query, key, value, mask, dropout, scaling, kwargs, on_block=keep)


def _eager_to_callback(session, site, module, query, key, value, mask, dropout, scaling, kwargs):
    """The whole layer's weights (batch, head, query, key), built block by block, handed to ``on_layer``."""
    import torch

    weights = None

    def gather(first, w):
        nonlocal weights
        if weights is None:
            weights = w.new_empty((query.shape[0], w.shape[1], query.shape[2], key.shape[2]), dtype=torch.float32)
        weights[:, :, first:first + w.shape[2]] = w

    out = _eager_output(module, query, key, value, mask, dropout, scaling, kwargs, on_block=gather)
    session.on_layer(site, weights)
    session.seen.add(site)
    return out


def _eager_rows(module, query, key, value, mask, dropout, scaling, kwargs, b, rows, on_block):
    """Eager weights of some query rows of one example, block by block."""
    first = 0
    for chunk in _chunks(rows, query.shape[1] * key.shape[2]):
        o, w = _eager_call(module, query, key, value, mask, dropout, scaling, kwargs, slice(b, b + 1), chunk)
        on_block(first, w, o)
        first += len(chunk)


def _chunks(rows, per_row: int):
    size = max(1, BLOCK_BYTES // (4 * max(per_row, 1)))
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def _eager_call(module, query, key, value, mask, dropout, scaling, kwargs, batch: slice, rows, block_mask=None):
    """The family's eager function on ``rows`` of the examples ``batch``, masks and biases cut alike
    (``block_mask``: the additive mask of those rows, when the caller has made it)."""
    eager = _eager_function(module)
    q = query[batch][:, :, rows]
    tq, tk = query.shape[2], key.shape[2]
    cut = {k: _cut(v, batch, rows, tq, tk) for k, v in kwargs.items()}
    if block_mask is None:
        block_mask = _block_mask(module, mask, batch, rows, q, tq, tk, kwargs)
    return eager(module, q, key[batch], value[batch], block_mask, dropout=dropout, scaling=scaling, **cut)


def _cut(value, batch: slice, rows, tq: int, tk: int):
    """Per-row tensors (e.g. T5's position bias, batch|1 x head x q x k) cut to the block's rows."""
    import torch

    if isinstance(value, torch.Tensor) and value.ndim == 4 and value.shape[-2:] == (tq, tk):
        return (value[batch] if value.shape[0] > 1 else value)[:, :, rows]
    return value


def _block_mask(module, mask, batch: slice, rows, q, tq: int, tk: int, kwargs):
    """The additive float mask eager attention expects, for the block's rows."""
    import torch

    low = torch.finfo(q.dtype).min
    if mask is not None:
        m = (mask[batch] if mask.shape[0] > 1 else mask)[:, :, rows]
        if m.dtype == torch.bool:
            return torch.zeros(m.shape, dtype=q.dtype, device=q.device).masked_fill_(~m, low)
        return m
    causal = kwargs.get("is_causal")
    causal = getattr(module, "is_causal", True) if causal is None else causal
    if not (causal and tq > 1):
        return None
    keys = torch.arange(tk, device=q.device) - (tk - tq)
    return torch.zeros((1, 1, len(rows), tk), dtype=q.dtype, device=q.device).masked_fill_(
        keys[None, None, None, :] > rows.to(q.device)[None, None, :, None], low)
