"""Attention rollout and attention flow (Abnar & Zuidema 2020).

Abnar and Zuidema, "Quantifying Attention Flow in Transformers" (ACL 2020). Per
layer the heads are fused (mean, or max/min), the residual connection is modelled
by ``A = 0.5 W + 0.5 I`` and the rows are renormalised to sum to 1:

* **rollout**: ``R(l) = A(l) @ R(l - 1)``, ``R(first) = A(first)``: row i of the
  result is how much output position i draws on each input token;
* **vit-explain's variant** (Gildenblat, github.com/jacobgil/vit-explain, ``vit_rollout.py``), for
  images: the heads fused by their mean, max or min, then the ``discard_ratio`` share of the
  smallest fused weights of each layer set to 0 (over the whole n x n map, never the entry
  [CLS] -> [CLS]) before ``A = 0.5 W + 0.5 I``. Its code renormalises with ``a / a.sum(dim=-1)``, which
  broadcasts over the *columns* (entry (i, j) divided by row j's sum) - the same as the paper's row
  renormalisation only where every row sums to the same value (mean fusion, nothing discarded);
  ``normalization="vit-explain"`` reproduces it exactly, the default ``"rows"`` renormalises rows;
* **flow**: the same graph (token nodes per layer, edge capacities from ``A``) read as
  a flow network; entry (i, j) is the maximum flow from output position i down to
  input token j, rows normalised to sum to 1 as in the paper's code. It solves n²
  max-flow problems, so it refuses inputs longer than ``max_tokens``.

Example:
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", "the cat sat on the mat")
    >>> r = rollout(cap)
    >>> r.matrix.shape == (len(cap[0].tokens),) * 2, bool(np.allclose(r.matrix.sum(1), 1))
    (True, True)
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnviz.capture import Capture, check_kind
from attnviz.results import ResultIO

FUSIONS = ("mean", "max", "min")
#: How the residual-augmented maps are renormalised: the paper's rows, or vit-explain's broadcast.
NORMALIZATIONS = ("rows", "vit-explain")
#: Default longest input attention_flow accepts (n² max-flow problems).
MAX_FLOW_TOKENS = 48
_SCALE = 1_000_000  # integer capacities for scipy's max-flow: 6 decimals


@dataclass
class Rollout(ResultIO):
    """A token-to-token attribution matrix from rollout or flow.

    Attributes:
        matrix: (position, token) array; row i is output position i's attribution
            over the input tokens, rows sum to 1.
        tokens: readable tokens (labels of both axes).
        layers: the model layers combined, in order.
        method: "rollout" or "flow"; head_fusion: "mean", "max" or "min".
        per_layer: (layer, position, token) rollouts (or flows, with
            ``attention_flow(per_layer=True)``) after each layer (the last equals ``matrix``); else None.
        discard_ratio / normalization: vit-explain's settings (see the module docstring).
        image / patch_grid / patch_positions: for an image example, the image as the model saw it and
            the patch layout (``matrix[q][patch_positions].reshape(patch_grid)`` is query q's rollout
            over the image; :meth:`plot` then draws it over the image); else None.

    Example:
        >>> r = Rollout(np.eye(2), ["a", "b"], layers=[0])
        >>> r.for_query(1).tolist()
        [0.0, 1.0]
    """

    matrix: np.ndarray
    tokens: list[str]
    layers: list[int]
    method: str = "rollout"
    head_fusion: str = "mean"
    per_layer: np.ndarray | None = None
    text: str | None = None
    model_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    discard_ratio: float = 0.0
    normalization: str = "rows"
    image: np.ndarray | None = None
    patch_grid: tuple[int, int] | None = None
    patch_positions: np.ndarray | None = None

    def __repr__(self) -> str:
        return (f"Rollout(method={self.method!r}, {len(self.tokens)} tokens, layers "
                f"{self.layers[0]}-{self.layers[-1]}, head_fusion={self.head_fusion!r})")

    def for_query(self, query: int = 0) -> np.ndarray:
        """Row ``query``: one output position's attribution over the input tokens.

        Example:
            >>> Rollout(np.array([[0.25, 0.75], [0.5, 0.5]]), ["a", "b"], layers=[0]).for_query(0).tolist()
            [0.25, 0.75]
        """
        n = len(self.tokens)
        if not -n <= query < n:
            raise IndexError(f"query {query} is out of range: there are {n} tokens, use 0 to {n - 1}")
        return self.matrix[query]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the matrix (and per-layer matrices) as nested lists, with the tokens and settings.

        Example:
            >>> Rollout.from_dict(Rollout(np.eye(2), ["a", "b"], layers=[0]).to_dict()).matrix.tolist()
            [[1.0, 0.0], [0.0, 1.0]]
        """
        return {"format": "attnviz.rollout/1", "method": self.method, "head_fusion": self.head_fusion,
                "tokens": list(self.tokens), "layers": [int(v) for v in self.layers], "text": self.text,
                "model_name": self.model_name, "matrix": np.asarray(self.matrix).tolist(),
                "per_layer": None if self.per_layer is None else np.asarray(self.per_layer).tolist(),
                "extra": self.extra, "discard_ratio": float(self.discard_ratio), "normalization": self.normalization,
                "image": None if self.image is None else np.asarray(self.image).tolist(),
                "patch_grid": None if self.patch_grid is None else [int(v) for v in self.patch_grid],
                "patch_positions": None if self.patch_positions is None else
                [int(v) for v in self.patch_positions]}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Rollout:
        """Inverse of :meth:`to_dict` (also reads what :meth:`save` wrote, via :meth:`load`)."""
        per_layer = doc.get("per_layer")
        return cls(matrix=np.array(doc["matrix"], dtype=np.float64), tokens=list(doc["tokens"]),
                   layers=list(doc["layers"]), method=doc.get("method", "rollout"),
                   head_fusion=doc.get("head_fusion", "mean"),
                   per_layer=None if per_layer is None else np.array(per_layer, dtype=np.float64),
                   text=doc.get("text"), model_name=doc.get("model_name", ""), extra=dict(doc.get("extra") or {}),
                   discard_ratio=float(doc.get("discard_ratio", 0.0)), normalization=doc.get("normalization", "rows"),
                   image=None if doc.get("image") is None else np.array(doc["image"], dtype=np.uint8),
                   patch_grid=None if doc.get("patch_grid") is None else (int(doc["patch_grid"][0]),
                                                                          int(doc["patch_grid"][1])),
                   patch_positions=None if doc.get("patch_positions") is None else
                   np.array(doc["patch_positions"], dtype=np.int64))

    def records(self) -> list[dict[str, Any]]:
        """Tidy rows ``{query, key, query_token, key_token, value}`` of the matrix (for :meth:`to_frame`).

        Example:
            >>> Rollout(np.eye(2), ["a", "b"], layers=[0]).records()[1]
            {'query': 0, 'key': 1, 'query_token': 'a', 'key_token': 'b', 'value': 0.0}
        """
        m = np.asarray(self.matrix)
        return [{"query": i, "key": j, "query_token": self.tokens[i], "key_token": self.tokens[j],
                 "value": float(m[i, j])} for i in range(m.shape[0]) for j in range(m.shape[1])]

    def plot(self, *, ax=None, **kwargs: Any):
        """Token heatmap of the matrix (see :func:`attnviz.plot.rollout.rollout_heatmap`); returns the Axes.

        For an image example, one query's rollout over the image instead (:func:`attnviz.plot.image_rollout`,
        ``query="cls"`` by default; keywords go there).

        Example:
            >>> ax = Rollout(np.eye(2), ["a", "b"], layers=[0]).plot()
            >>> [t.get_text() for t in ax.get_xticklabels()]
            ['a', 'b']
        """
        if self.patch_grid is not None:
            from attnviz.plot.image import image_rollout

            return image_rollout(self, ax=ax, **kwargs)
        from attnviz.plot.rollout import rollout_heatmap

        return rollout_heatmap(self, ax=ax, **kwargs)

    def image_map(self, query: Any = "cls") -> np.ndarray:
        """An image rollout's row of ``query`` over the patches, (rows, cols) (query as in ``image_attention``).

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_model
            >>> model, processor = tiny_model("vit")
            >>> r = rollout(attnviz.extract(model, [np.zeros((32, 32, 3), "uint8")], processor=processor))
            >>> r.image_map().shape
            (4, 4)
        """
        from attnviz.plot.image import patch_map, query_position

        if self.patch_grid is None or self.patch_positions is None:
            raise ValueError("this rollout is not of an image example: use for_query(position) instead")
        position, _ = query_position(query, tokens=self.tokens, special_mask=None, patch_grid=self.patch_grid,
                                     patch_positions=self.patch_positions)
        return patch_map(self.matrix[position], self.patch_grid, self.patch_positions)

    def plot_bars(self, query: int = 0, *, ax=None, **kwargs: Any):
        """Bars of one query's attribution per token (see :func:`attnviz.plot.rollout.rollout_bars`).

        Example:
            >>> ax = Rollout(np.eye(2), ["a", "b"], layers=[0]).plot_bars(0)
            >>> [float(p.get_height()) for p in ax.patches]
            [1.0, 0.0]
        """
        from attnviz.plot.rollout import rollout_bars

        return rollout_bars(self, query=query, ax=ax, **kwargs)


def augmented(attentions: np.ndarray, head_fusion: str = "mean", *, discard_ratio: float = 0.0,
              normalization: str = "rows") -> np.ndarray:
    """Per layer ``0.5 * fuse_heads(W) + 0.5 * I``, rows renormalised: (layer, n, n) float64.

    ``discard_ratio``: vit-explain's share of each layer's smallest fused weights set to 0 first
    (``int(n * n * discard_ratio)`` of them in the flattened map, the [CLS] -> [CLS] entry (0, 0)
    kept); ``normalization="vit-explain"`` divides entry (i, j) by row j's sum as its code does
    (see the module docstring).

    Example:
        >>> w = np.full((1, 2, 2, 2), 0.5)
        >>> augmented(w)[0].tolist()
        [[0.75, 0.25], [0.25, 0.75]]
        >>> augmented(np.array([[[[0.9, 0.1], [0.3, 0.7]]]]), discard_ratio=0.25)[0].tolist()
        [[1.0, 0.0], [0.15, 0.85]]
    """
    if head_fusion not in FUSIONS:
        raise ValueError(f"head_fusion={head_fusion!r}: use one of {', '.join(FUSIONS)}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization={normalization!r}: use 'rows' (Abnar & Zuidema) or 'vit-explain'")
    if isinstance(discard_ratio, bool) or not isinstance(discard_ratio, (int, float)) or not 0 <= discard_ratio < 1:
        raise ValueError(f"discard_ratio={discard_ratio!r}: give the share of weights to drop, from 0 to below 1 "
                         "(vit-explain uses 0.9)")
    w = np.asarray(attentions, dtype=np.float64)
    if w.ndim != 4 or w.shape[-1] != w.shape[-2]:
        raise ValueError(f"attentions must be (layer, head, n, n) self-attention, got shape {w.shape}")
    fused = getattr(w, head_fusion)(axis=1)
    n = w.shape[-1]
    drop = int(n * n * discard_ratio)
    if drop:
        flat = fused.reshape(len(fused), -1)
        lowest = np.argsort(flat, axis=-1, kind="stable")[:, :drop]
        for layer, cut in enumerate(lowest):
            flat[layer, cut[cut != 0]] = 0.0
    a = 0.5 * fused + 0.5 * np.eye(n)
    if normalization == "vit-explain":
        return a / a.sum(axis=-1)[:, None, :]
    return a / a.sum(axis=-1, keepdims=True)


def rollout(capture: Capture, *, example: int = 0, start_layer: int = 0, head_fusion: str = "mean",
            kind: str = "self", discard_ratio: float = 0.0, normalization: str = "rows") -> Rollout:
    """Attention rollout (Abnar & Zuidema 2020) of one example, from ``start_layer`` to the last layer.

    ``kind`` is "self" (or "encoder") or "decoder"; the capture must hold every layer
    from ``start_layer`` on (extract without ``layers=``). With a head subset the
    fusion uses the kept heads only (a warning says so). ``discard_ratio`` and
    ``normalization`` give vit-explain's variant (module docstring; it uses
    ``discard_ratio=0.9`` with ``head_fusion="max"``). For an image example the result keeps
    the image and patch layout: ``.plot()`` draws the [CLS] row over the image.

    Example:
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("gpt2", "hello there world")
        >>> r = rollout(cap, head_fusion="max", start_layer=1)
        >>> r.layers, r.per_layer.shape[0]
        ([1], 1)
    """
    ex, att, layers, tokens = _inputs(capture, example, start_layer, kind)
    a = augmented(att, head_fusion, discard_ratio=discard_ratio, normalization=normalization)
    steps = [a[0]]
    for layer in a[1:]:
        steps.append(layer @ steps[-1])
    per_layer = np.stack(steps)
    image = kind != "decoder" and ex.patch_grid is not None
    return Rollout(per_layer[-1], tokens, layers, "rollout", head_fusion, per_layer,
                   text=ex.text, model_name=capture.model_name, discard_ratio=float(discard_ratio),
                   normalization=normalization, image=ex.image if image else None,
                   patch_grid=ex.patch_grid if image else None, patch_positions=ex.patch_positions if image else None)


def attention_flow(capture: Capture, *, example: int = 0, start_layer: int = 0, head_fusion: str = "mean",
                   kind: str = "self", max_tokens: int = MAX_FLOW_TOKENS, per_layer: bool = False) -> Rollout:
    """Attention flow (Abnar & Zuidema 2020): max flow from each output position to each input token.

    The layered graph has a node per token and layer (the input tokens at the bottom);
    the edge from position i of layer l+1 to token j of layer l has the capacity
    ``A(l)[i, j]`` of rollout's residual-augmented matrices. Rows are normalised to
    sum to 1. Capacities are rounded to 6 decimals (scipy's integer max-flow).
    Inputs longer than ``max_tokens`` raise a ValueError (the cost grows like n^4).
    ``per_layer=True`` also computes the flow from every layer's output nodes (as the
    paper's ``compute_flows`` does for every node): ``Rollout.per_layer`` is then
    (layer, position, token), the last equal to ``matrix``; it costs layers times more.

    Example:
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "a cat")
        >>> f = attention_flow(cap)
        >>> f.method, bool(np.allclose(f.matrix.sum(1), 1))
        ('flow', True)
        >>> attention_flow(cap, per_layer=True).per_layer.shape[0] == len(cap.layers)
        True
    """
    ex, att, layers, tokens = _inputs(capture, example, start_layer, kind)
    n = att.shape[-1]
    if n > max_tokens:
        raise ValueError(f"attention flow solves n² max-flow problems and this example has {n} tokens, above "
                         f"the limit max_tokens={max_tokens}: use rollout() instead, a shorter text, or pass "
                         f"max_tokens={n} if you can wait")
    a = augmented(att, head_fusion)
    if per_layer:
        steps = np.stack([max_flows(a, top=d) for d in range(1, len(a) + 1)])
        steps = steps / steps.sum(axis=-1, keepdims=True)
        return Rollout(steps[-1], tokens, layers, "flow", head_fusion, steps, text=ex.text,
                       model_name=capture.model_name)
    flows = max_flows(a)
    return Rollout(flows / flows.sum(axis=1, keepdims=True), tokens, layers, "flow", head_fusion, None,
                   text=ex.text, model_name=capture.model_name)


def max_flows(a: np.ndarray, top: int | None = None) -> np.ndarray:
    """(n, n) maximum flow values from each top node to each bottom node of the layered graph of ``a``.

    ``a`` is (layer, n, n); node (l, i) for l = 0..L, edge (l+1, i) -> (l, j) with capacity a[l, i, j].
    ``top`` (default L) picks the layer of the source nodes: flow from layer ``top``'s outputs.

    Example:
        >>> max_flows(np.array([[[0.5, 0.5], [0.0, 1.0]]])).tolist()
        [[0.5, 0.5], [0.0, 1.0]]
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import maximum_flow

    depth, n, _ = a.shape
    rows, cols, caps = [], [], []
    for layer in range(depth):
        src = (layer + 1) * n + np.repeat(np.arange(n), n)
        dst = layer * n + np.tile(np.arange(n), n)
        rows.append(src)
        cols.append(dst)
        caps.append(np.rint(a[layer].ravel() * _SCALE).astype(np.int32))
    size = (depth + 1) * n
    graph = csr_matrix((np.concatenate(caps), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size))
    graph.eliminate_zeros()
    top = depth if top is None else top
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            out[i, j] = maximum_flow(graph, top * n + i, j).flow_value / _SCALE
    return out


def _inputs(capture: Capture, example: int, start_layer: int, kind: str):
    if check_kind(kind) == "cross":
        raise ValueError(f"rollout needs self-attention: kind={kind!r} is not supported, use 'self' or 'decoder'")
    ex = capture[example]
    ex.require_all_rows("attention rollout")
    att = ex.attention(kind)
    decoder = check_kind(kind) == "decoder"
    kept = capture.kind_layers(kind)
    total = (capture.num_decoder_layers if decoder else capture.num_layers) or (max(kept) + 1 if kept else 0)
    if not 0 <= start_layer < total:
        raise ValueError(f"start_layer={start_layer} is out of range: the model has {total} layers (0 to {total - 1})")
    needed = list(range(start_layer, total))
    missing = [layer for layer in needed if layer not in kept]
    if missing:
        raise ValueError(f"rollout multiplies every layer from {start_layer} to {total - 1}, but layers {missing} "
                         "are not in the capture: extract again without layers=, or raise start_layer")
    if capture.num_heads and len(capture.heads) < capture.num_heads:
        warnings.warn(f"the capture keeps {len(capture.heads)} of {capture.num_heads} heads: rollout fuses only "
                      "those; extract without heads= for the paper's definition", UserWarning, stacklevel=3)
    att = att[[kept.index(layer) for layer in needed]]
    _, tokens = ex.axis_tokens(kind)  # key tokens (display forms) of the side attended to
    return ex, att, needed, tokens
