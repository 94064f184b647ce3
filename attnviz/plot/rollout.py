"""Figures of attention rollout and flow (Abnar & Zuidema 2020): a token heatmap and per-token bars.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> r = attnviz.metrics.rollout(tiny_capture("bert", "the cat sat"))
    >>> ax = rollout_heatmap(r)
    >>> ax.images[0].get_array().shape
    (5, 5)
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes

from attnviz.plot.provenance import set_provenance
from attnviz.plot.resize import on_resize
from attnviz.plot.theme import SEQUENTIAL
from attnviz.plot.ticks import fit_token_ticks, literal

_NAMES = {"rollout": "attention rollout", "flow": "attention flow"}


def _new_axes(width: float, height: float) -> Axes:
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax


def _title(result: Any) -> str:
    layers = result.layers
    span = f"layers {layers[0]}-{layers[-1]}" if len(layers) > 1 else f"layer {layers[0]}"
    return f"{_NAMES.get(result.method, result.method)}\n{span}, {result.head_fusion} of heads"


def _fit_tokens(ax: Axes, tokens: list[str], *, rows: bool) -> None:
    """Token labels at a size that fits the axes (refitted when save_figure resizes the figure)."""
    fit_token_ticks(ax, rows=tokens if rows else None, cols=tokens)


def rollout_heatmap(result: Any, *, ax: Axes | None = None, cmap: Any = None, vmin: float | None = 0.0,
                    vmax: float | None = None, cbar: bool = True, title: str | None = None, **kwargs: Any) -> Axes:
    """Rollout/flow matrix as a heatmap: rows output positions, columns input tokens.

    ``result`` is a :class:`~attnviz.metrics.Rollout`; kwargs go to ``Axes.imshow``.

    Example:
        >>> import numpy as np
        >>> from attnviz.metrics import Rollout
        >>> ax = rollout_heatmap(Rollout(np.eye(3), ["a", "b", "c"], layers=[0, 1]))
        >>> [t.get_text() for t in ax.get_yticklabels()]
        ['a', 'b', 'c']
    """
    matrix = np.asarray(result.matrix, dtype=float)
    tokens = list(result.tokens)
    if ax is None:
        n = len(tokens)
        ax = _new_axes(float(np.clip(0.2 * n + 2.0, 3.3, 9.0)), float(np.clip(0.2 * n + 1.2, 2.6, 9.0)))
    image = ax.imshow(matrix, cmap=cmap or SEQUENTIAL, vmin=vmin, vmax=vmax, interpolation="nearest",
                      aspect="auto", **kwargs)
    image.set_rasterized(True)
    _fit_tokens(ax, tokens, rows=True)
    on_resize(ax.figure.get_figure(root=True), lambda a: _fit_tokens(a, tokens, rows=True), ax)
    ax.set_xlabel("input token")
    ax.set_ylabel("output position")
    ax.set_title(title if title is not None else _title(result))
    if cbar:
        bar = ax.figure.get_figure(root=True).colorbar(image, ax=ax, label="attribution")
        if bar.solids is not None:
            bar.solids.set_rasterized(True)
    set_provenance(ax.figure.get_figure(root=True), model=getattr(result, "model_name", ""),
                   text=getattr(result, "text", None) or " ".join(tokens), view=_title(result))
    return ax


def rollout_bars(result: Any, *, query: int = 0, ax: Axes | None = None, color: Any = None,
                 title: str | None = None, **kwargs: Any) -> Axes:
    """One output position's attribution over the input tokens, as bars ([CLS]/position 0 by default).

    kwargs go to ``Axes.bar``.

    Example:
        >>> import numpy as np
        >>> from attnviz.metrics import Rollout
        >>> ax = rollout_bars(Rollout(np.array([[0.2, 0.8], [0.5, 0.5]]), ["a", "b"], layers=[0]), query=0)
        >>> [round(float(p.get_height()), 2) for p in ax.patches]
        [0.2, 0.8]
    """
    row = np.asarray(result.for_query(query), dtype=float)
    tokens = list(result.tokens)
    if ax is None:
        ax = _new_axes(float(np.clip(0.22 * len(tokens) + 1.5, 3.3, 9.0)), 3.0)
    ax.bar(np.arange(len(row)), row, color=color or "C0", **kwargs)
    _fit_tokens(ax, tokens, rows=False)
    on_resize(ax.figure.get_figure(root=True), lambda a: _fit_tokens(a, tokens, rows=False), ax)
    ax.set_xlim(-0.6, len(row) - 0.4)
    ax.set_ylim(0, max(float(row.max()) * 1.1, 1e-9))
    ax.set_ylabel("attribution")
    ax.set_xlabel("input token")
    position = query % len(tokens)
    name = _NAMES.get(result.method, result.method)
    if title is None:
        literal(ax.set_title(f"{name} from position {position} ({tokens[position]})"))
    else:
        ax.set_title(title)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    set_provenance(ax.figure.get_figure(root=True), model=getattr(result, "model_name", ""),
                   text=getattr(result, "text", None) or " ".join(tokens), view=_title(result))
    return ax
