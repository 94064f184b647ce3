"""``token_heatmap``: one head's query x key attention map with the tokens on both axes.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", "the cat sat")
    >>> ax = attnviz.plot.token_heatmap(cap, layer=1, head=2)
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['[CLS]', 'the', 'cat', 'sat', '[SEP]']
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
from matplotlib.axes import Axes

from attnviz.capture import Capture
from attnviz.plot import _maps
from attnviz.plot.provenance import set_provenance
from attnviz.plot.resize import on_resize
from attnviz.plot.summary import annotate_cells
from attnviz.plot.theme import SEQUENTIAL
from attnviz.plot.ticks import fit_token_ticks


def token_heatmap(
    capture: Capture,
    *,
    example: int = 0,
    layer: int = 0,
    head: int | str = 0,
    kind: str = "self",
    ax: Axes | None = None,
    annotate: bool = False,
    hide_special: bool = False,
    scale: str = "linear",
    cmap: Any = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cbar: bool = True,
    fmt: str = ".2f",
    title: str | None = None,
    **kwargs: Any,
) -> Axes:
    """Draw one head's attention map (rows: queries, columns: keys) with token labels.

    Args:
        capture: what :func:`attnviz.extract` returned.
        example: index of the example in the capture.
        layer / head: the model's layer and head numbers (as in ``capture.layers`` /
            ``capture.heads``); ``head="mean"`` or ``"max"`` summarises the layer's heads.
        kind: "self" (the encoder's for seq2seq), "decoder" or "cross" (decoder tokens
            on the rows, encoder tokens on the columns).
        ax: the Axes to draw on (a new figure when None).
        annotate: write each value in its cell.
        hide_special: drop the rows and columns of special tokens ([CLS], [SEP], BOS...).
        scale: "linear", "log" (so a sink token does not wash out the rest) or "row"
            (each row divided by its maximum).
        cmap, vmin, vmax: colour map (viridis by default) and limits.
        cbar: add a colour bar.
        fmt: format of the annotated values.
        title: axes title (default "layer L, head H").
        kwargs: passed to ``Axes.imshow``.

    For a generated capture (``example.prompt_length`` set) a thin line marks where
    the prompt ends. Labels shrink to fit, and are thinned out on long inputs.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat sat")
        >>> ax = token_heatmap(cap, layer=0, head="mean", hide_special=True, annotate=True)
        >>> ax.images[0].get_array().shape
        (3, 3)
    """
    ex = _maps.example_of(capture, example)
    kind = _maps.check_kind(kind)
    scale = _maps.check_scale(scale)
    cmap = _maps.check_cmap(cmap)
    sel = _maps.token_axes(ex, kind, hide_special)
    matrix = _maps.head_matrix(capture, ex, kind, layer, head)[np.ix_(sel.rows, sel.cols)]
    data = _maps.scaled(matrix, scale)
    norm = _maps.norm_for(data, scale, vmin, vmax)
    if ax is None:
        ax = _new_axes(*data.shape)
    image = ax.imshow(data, cmap=cmap or SEQUENTIAL, norm=norm, interpolation="nearest",
                      aspect="auto", **kwargs)
    image.set_rasterized(True)
    ylabel, xlabel = _maps.axis_names(kind)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    head_name = head if isinstance(head, str) else f"head {head}"
    ax.set_title(title if title is not None else f"layer {layer}, {head_name}")
    draw_boundaries(ax, sel.row_boundary, sel.col_boundary)
    if annotate:
        annotate_cells(ax, data, image, fmt)
    if cbar:
        colorbar = ax.figure.colorbar(image, ax=ax, label=_maps.cbar_label(scale))
        if colorbar.solids is not None:
            colorbar.solids.set_rasterized(True)
    refit = functools.partial(fit_token_ticks, rows=sel.row_labels, cols=sel.col_labels)
    refit(ax)
    on_resize(ax.figure.get_figure(root=True), refit, ax)
    set_provenance(ax.figure.get_figure(root=True), model=capture.model_name, model_type=capture.model_type,
                   text=_maps.example_text(ex), example=example,
                   view=f"attention map, {kind}, layer {layer}, {head_name}")
    return ax


def _new_axes(rows: int, cols: int) -> Axes:
    import matplotlib.pyplot as plt

    width = float(np.clip(0.2 * cols + 1.8, 3.3, 9.0))
    height = float(np.clip(0.2 * rows + 1.0, 2.6, 9.0))
    _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax


def draw_boundaries(ax: Axes, row: float | None, col: float | None, *, x0: float = 0.0,
                    extent: tuple[float, float] | None = None, color: str = "white") -> None:
    """Thin lines at the prompt/generated boundary: horizontal at ``row``, vertical at ``col``.

    ``x0`` shifts the vertical line (for a cell inside a mosaic) and ``extent`` gives
    the x span of the horizontal line (the whole axes when None).

    Example:
        >>> from matplotlib.figure import Figure
        >>> ax = Figure().add_subplot(); draw_boundaries(ax, 1.5, 1.5)
        >>> len(ax.lines)
        2
    """
    style: dict[str, Any] = dict(color=color, linewidth=0.8, alpha=0.9)
    if row is not None:
        if extent is None:
            ax.axhline(row, **style)
        else:
            ax.plot(extent, (row, row), **style)
    if col is not None:
        ax.axvline(x0 + col, **style)
