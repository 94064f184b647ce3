"""``query_profile``: where one token looks, layer by layer (rows: layers, columns: keys).

Made for long inputs and for captures that kept only some query rows
(``extract(..., queries="last")``): one query's attention row from every kept layer, stacked
into a (layer x key) image, on a log colour scale by default so that a few strong keys do not
hide the rest. Short inputs get token labels; long ones get position ticks.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("gpt2", "the cat sat on the mat", queries="last")
    >>> ax = attnviz.plot.query_profile(cap)
    >>> ax.images[0].get_array().shape == (cap.num_layers, cap[0].num_tokens)
    True
"""
from __future__ import annotations

__all__ = ["query_profile"]

import sys
from typing import Sequence

import numpy as np
from matplotlib.axes import Axes

from attnviz.capture import Capture, Example
from attnviz.plot import _maps
from attnviz.plot.provenance import set_provenance
from attnviz.plot.ticks import fit_token_ticks

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover  (typing_extensions comes with torch)
    from typing_extensions import Unpack

#: Above this many keys the x axis shows positions instead of token labels.
MAX_TOKEN_LABELS = 64


def query_profile(
    capture: Capture,
    *,
    example: int = 0,
    query: int = -1,
    head: int | str = "mean",
    layers: Sequence[int] | None = None,
    scale: str = "log",
    **style: Unpack[_maps.MapStyle],
) -> Axes:
    """Draw one query token's attention over the keys, one row per layer.

    Args:
        capture: what :func:`attnviz.extract` returned (self-attention is drawn).
        example: index of the example.
        query: the query token's position (negative counts from the end); with
            ``extract(queries=...)`` it must be one of the kept rows.
        head: a head number, or ``"mean"``/``"max"`` over the layer's kept heads.
        layers: model layers to show (default: every kept layer).
        scale: "log" (default), "linear" or "row" (each layer's row divided by its maximum).
        style: ``ax``: the Axes to draw on (a new figure when None); ``cmap``: colour map
            (viridis by default); ``cbar``: add a colour bar (True); ``title``: axes title
            (default names the query token).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat sat")
        >>> query_profile(cap, query=0, head=1, scale="linear").get_ylabel()
        'layer'
    """
    ex = _maps.example_of(capture, example)
    scale = _maps.check_scale(scale)
    numbers, positions = _maps.layer_positions(capture, layers, "self")
    row, token_pos = _query_row(ex, query)
    maps = _maps.attention_of(ex, "self")
    if isinstance(head, str):
        if head not in _maps.REDUCTIONS:
            raise ValueError(f"head={head!r}: give a head number, 'mean' or 'max'")
        rows = [getattr(np.asarray(maps[p][:, row]), head)(axis=0) for p in positions]
    else:
        _, (hp,) = _maps.head_positions(capture, [head])
        rows = [np.asarray(maps[p][hp, row]) for p in positions]
    data = _maps.scaled(np.stack(rows), scale)
    head_name = head if isinstance(head, str) else f"head {head}"
    label = ex.display_tokens[token_pos] if ex.display_tokens else ex.tokens[token_pos]
    ax = _maps.draw_layer_map(data, _maps.norm_for(data, scale), style,
                              size=(6.9, float(np.clip(0.3 * len(numbers) + 1.2, 2.0, 6.0))),
                              label_axes=lambda ax: _label_axes(ax, ex, numbers),
                              title=f"query {token_pos} ({label!r}), {head_name}", cbar_label=_maps.cbar_label(scale))
    set_provenance(ax.figure.get_figure(root=True), model=capture.model_name, model_type=capture.model_type,
                   text=_maps.example_text(ex), example=example,
                   view=f"query profile, query {token_pos}, {head_name}")
    return ax


def _query_row(ex: Example, query: int) -> tuple[int, int]:
    """(row in the example's maps, token position) of a query position."""
    n = ex.num_tokens
    if isinstance(query, bool) or not isinstance(query, (int, np.integer)):
        raise TypeError(f"query={query!r}: give a token position (an int; negative counts from the end)")
    if not -n <= query < n:
        raise ValueError(f"query={query} is out of range for a text of {n} tokens: use -{n} to {n - 1}")
    pos = int(query) % n
    if ex.query_positions is None:
        return pos, pos
    if pos not in ex.query_positions:
        raise ValueError(f"query position {pos} was not kept by extract(queries=...); kept rows: "
                         f"{list(ex.query_positions)[:10]}. Pick one of them or extract it")
    return list(ex.query_positions).index(pos), pos


def _label_axes(ax: Axes, ex: Example, layers: list[int]) -> None:
    ax.set_ylabel("layer")
    ax.set_yticks(range(len(layers)), [str(l) for l in layers])
    n = ex.num_tokens
    if n <= MAX_TOKEN_LABELS:
        fit_token_ticks(ax, rows=None, cols=list(ex.display_tokens or ex.tokens))
        ax.set_xlabel("key")
    else:
        ax.set_xlabel("key position")
