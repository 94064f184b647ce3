"""``head_grid``: every layer (rows) by every head (columns), one shared colour scale.

Speed is the point: a ``plt.subplots(L, H)`` loop builds L x H Axes with their own
ticks (about 6 ms each before anything is drawn) and, with per-axis token labels,
takes seconds. Here each layer row is ONE image (the heads side by side, separated
by a thin gap) in one Axes, token labels go on the outer cells only (left column,
bottom row), or nowhere when they would not be readable, and one colour bar serves
the whole grid. The per-cell Axes of :attr:`HeadGrid.axes` are made only when asked
for, as transparent overlays in each cell's token coordinates.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> cap = attnviz.extract(*tiny_model("bert"), "the cat sat")
    >>> grid = attnviz.plot.head_grid(cap, layers=[1], heads=[0, 2])
    >>> grid.axes.shape, grid.matrix(1, 2).shape
    ((1, 2), (5, 5))
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from attnviz.capture import Capture
from attnviz.plot import _maps
from attnviz.plot.heatmap import draw_boundaries
from attnviz.plot.style import (SEQUENTIAL, WIDTHS, FigureView, fit_font, fit_ticks, font_points,
                                on_resize, set_provenance)

CELL_INCHES = 0.55  # default cell size when no width is given


class HeadGrid(FigureView):
    """The figure of :func:`head_grid`: a layer x head grid of attention maps.

    Attributes:
        figure: the matplotlib Figure (not managed by pyplot: it shows through
            ``_repr_png_`` in notebooks and is saved with :meth:`savefig`).
        layers / heads: the model's layer and head numbers of the rows and columns.
        row_axes: one Axes per layer row; ``images``: that row's AxesImage.
        colorbar: the one colour bar of the grid.
        row_tokens / col_tokens: the (display) tokens of each cell's rows and columns.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> grid = head_grid(attnviz.extract(*tiny_model("gpt2"), "hello there"))
        >>> grid.layers, grid.heads
        ([0, 1], [0, 1, 2, 3])
    """

    def __init__(self, figure: Figure, layers: list[int], heads: list[int], row_axes: list[Axes],
                 images: list[AxesImage], shape: tuple[int, int], gap: int,
                 row_tokens: list[str], col_tokens: list[str], show_tokens: str | bool) -> None:
        super().__init__(figure)
        self.layers, self.heads = layers, heads
        self.row_axes, self.images = row_axes, images
        self.row_tokens, self.col_tokens = row_tokens, col_tokens
        self.colorbar = None
        self._shape, self._gap, self._show_tokens = shape, gap, show_tokens
        self._cells: np.ndarray | None = None

    @property
    def axes(self) -> np.ndarray:
        """(layers x heads) array of Axes, one per cell, in the cell's token coordinates.

        Made on first access (so an unused grid stays fast): transparent Axes over
        each cell with x from -0.5 to keys-0.5 and y from queries-0.5 down to -0.5,
        so ``grid.axes[i, j].add_patch(...)`` marks a token pair of that cell.

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_model
            >>> grid = head_grid(attnviz.extract(*tiny_model("bert"), "a b"), heads=[1, 3])
            >>> grid.axes.shape, [float(x) for x in grid.axes[0, 1].get_xlim()]
            ((2, 2), [-0.5, 3.5])
        """
        if self._cells is None:
            self._cells = np.empty((len(self.layers), len(self.heads)), dtype=object)
            q, k = self._shape
            total = len(self.heads) * (k + self._gap) - self._gap
            for i, row_ax in enumerate(self.row_axes):
                for j in range(len(self.heads)):
                    cell = row_ax.inset_axes([j * (k + self._gap) / total, 0, k / total, 1])
                    cell.set_xlim(-0.5, k - 0.5)
                    cell.set_ylim(q - 0.5, -0.5)
                    cell.set_axis_off()
                    cell.patch.set_visible(False)
                    self._cells[i, j] = cell
        return self._cells

    def matrix(self, layer: int, head: int) -> np.ndarray:
        """The values drawn in the cell of model layer ``layer`` and head ``head``.

        Read back from the row's image, so it is exactly what the figure shows.

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_model
            >>> cap = attnviz.extract(*tiny_model("bert"), "a b")
            >>> np.allclose(head_grid(cap).matrix(1, 3), cap[0].attentions[1, 3])
            True
        """
        if layer not in self.layers or head not in self.heads:
            raise ValueError(f"layer {layer}, head {head} is not in this grid (layers {self.layers}, "
                             f"heads {self.heads}): pick one of those")
        q, k = self._shape
        start = self.heads.index(head) * (k + self._gap)
        return np.asarray(self.images[self.layers.index(layer)].get_array()[:, start:start + k])

    def _fit_labels(self) -> None:
        """Token, layer and head labels sized for the figure's current size."""
        q, k = self._shape
        w_in, h_in = self.figure.get_size_inches()
        cell_w = 72 * w_in * 0.8 / len(self.heads)
        cell_h = 72 * h_in * 0.85 / len(self.layers)
        base_x, base_y = font_points("xtick.labelsize"), font_points("ytick.labelsize")
        show = self._show_tokens
        x_fit = fit_font(k, cell_w, base_x) if show else None
        y_fit = fit_font(q, cell_h, base_y) if show else None
        if show is True:
            x_fit, y_fit = x_fit or fit_font(1, 1, base_x), y_fit or fit_font(1, 1, base_y)
        positions = [j * (k + self._gap) + t for j in range(len(self.heads)) for t in range(k)]
        for i, ax in enumerate(self.row_axes):
            if y_fit:
                fit_ticks(ax.yaxis, range(q), self.row_tokens, cell_h, base=y_fit, thin=False)
            else:
                ax.set_yticks([])
            bottom = i == len(self.row_axes) - 1
            if bottom and x_fit:
                fit_ticks(ax.xaxis, positions, self.col_tokens * len(self.heads), cell_w * len(self.heads),
                          base=x_fit, thin=False)
                ax.tick_params(axis="x", labelrotation=90)
            else:
                ax.set_xticks([])
        self._label_heads(cell_w, base_x)

    def _label_heads(self, cell_w: float, base: float) -> None:
        top = self.row_axes[0]
        for text in list(top.texts):
            text.remove()
        q, k = self._shape
        size = font_points("axes.labelsize")
        long = fit_font(1, cell_w, size) is not None and len(f"head {max(self.heads)}") * size * 0.6 < cell_w
        for j, h in enumerate(self.heads):
            top.text(j * (k + self._gap) + (k - 1) / 2, 1.02, f"head {h}" if long else str(h),
                     transform=top.get_xaxis_transform(), ha="center", va="bottom", fontsize=size)
        if not long:
            top.set_title("head", fontsize=size, pad=size + 4)


def head_grid(
    capture: Capture,
    *,
    example: int = 0,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    kind: str = "self",
    hide_special: bool = False,
    scale: str = "linear",
    tokens: str | bool = "auto",
    cmap: Any = None,
    vmin: float | None = None,
    vmax: float | None = None,
    width: str | float | None = None,
    title: str | None = None,
    **kwargs: Any,
) -> HeadGrid:
    """A grid of attention maps: rows are layers, columns heads, one shared colour bar.

    Args:
        capture: what :func:`attnviz.extract` returned.
        example: index of the example.
        layers / heads: the model's layer and head numbers to show (default: all kept).
        kind: "self" (encoder), "decoder" or "cross".
        hide_special: drop special-token rows and columns ([CLS], [SEP], BOS...).
        scale: "linear", "log" or "row" (each row divided by its maximum).
        tokens: "auto" (token labels on the outer cells when readable), True or False.
        cmap, vmin, vmax: colour map (viridis) and limits of the shared scale.
        width: figure width ("column", "page" or inches); default about 0.55 in a cell.
        title: a figure title.
        kwargs: passed to ``Axes.imshow`` (one call per layer row).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> cap = attnviz.extract(*tiny_model("bert"), "the cat sat on the mat")
        >>> grid = head_grid(cap, scale="row", hide_special=True)
        >>> grid.axes.shape, len([a for a in grid.figure.axes if a.get_label() == "<colorbar>"])
        ((2, 4), 1)
    """
    ex = _maps.example_of(capture, example)
    kind = _maps.check_kind(kind)
    scale = _maps.check_scale(scale)
    if tokens not in ("auto", True, False):
        raise ValueError(f"tokens={tokens!r}: use 'auto', True or False")
    maps = _maps.attention_of(ex, kind)
    layer_ids, lpos = _maps.layer_positions(capture, layers, kind)
    head_ids, hpos = _maps.head_positions(capture, heads)
    if not layer_ids or not head_ids:
        raise ValueError("no layer or head to draw: give layers=/heads= at least one number each")
    sel = _maps.token_axes(ex, kind, hide_special)
    data = _maps.scaled(maps[np.ix_(lpos, hpos, sel.rows, sel.cols)], scale)
    norm = _maps.norm_for(data, scale, vmin, vmax)
    fig = Figure(figsize=_figsize(len(layer_ids), len(head_ids), data.shape[2:], width), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.01, w_pad=0.01, hspace=0.015, wspace=0.0)
    row_axes = list(fig.subplots(len(layer_ids), 1, squeeze=False)[:, 0])
    gap = max(1, int(round(0.08 * data.shape[3])))
    images = [_draw_row(ax, data[i], gap, norm, cmap or SEQUENTIAL, kwargs) for i, ax in enumerate(row_axes)]
    for ax, layer in zip(row_axes, layer_ids):
        ax.set_ylabel(f"layer {layer}", rotation=0, ha="right", va="center")
        for spine in ax.spines.values():
            spine.set_visible(False)
        _draw_row_boundaries(ax, sel, data.shape[2:], gap, len(head_ids))
    grid = HeadGrid(fig, layer_ids, head_ids, row_axes, images, data.shape[2:], gap,
                    sel.row_labels, sel.col_labels, tokens)
    grid.colorbar = fig.colorbar(images[0], ax=row_axes, label=_maps.cbar_label(scale),
                                 fraction=0.04, aspect=max(10, 8 * len(layer_ids)), pad=0.01)
    grid.colorbar.solids.set_rasterized(True)
    if title:
        fig.suptitle(title)
    grid._fit_labels()
    on_resize(fig, HeadGrid._fit_labels, grid)
    set_provenance(fig, model=capture.model_name, model_type=capture.model_type, example=example,
                   text=_maps.example_text(ex), view=f"attention head grid ({kind})",
                   details=f"layers {layer_ids}, heads {head_ids}, scale {scale}")
    return grid


def _figsize(n_layers: int, n_heads: int, shape: tuple[int, int], width: str | float | None) -> tuple[float, float]:
    q, k = shape
    if width is None:
        w = CELL_INCHES * n_heads + 1.3
    elif isinstance(width, str):
        if width not in WIDTHS:
            raise ValueError(f"width={width!r}: use 'column', 'page' or a number of inches")
        w = WIDTHS[width]
    else:
        w = float(width)
    cell = (w - 1.3) / n_heads
    h = cell * (q / k) * n_layers + 0.5 + (0.6 if q <= 40 else 0.2)
    return w, float(np.clip(h, 1.2, 12))


def _draw_row(ax: Axes, row: np.ndarray, gap: int, norm: Normalize, cmap: Any, kwargs: dict) -> AxesImage:
    """One layer's heads side by side as one image, NaN (transparent) between cells."""
    n_heads, q, k = row.shape
    mosaic = np.full((q, n_heads * (k + gap) - gap), np.nan, dtype=np.float32)
    for j in range(n_heads):
        mosaic[:, j * (k + gap):j * (k + gap) + k] = row[j]
    image = ax.imshow(mosaic, cmap=cmap, norm=norm, interpolation="nearest", aspect="auto", **kwargs)
    image.set_rasterized(True)
    return image


def _draw_row_boundaries(ax: Axes, sel: _maps.Axes2D, shape: tuple[int, int], gap: int, n_heads: int) -> None:
    if sel.row_boundary is None and sel.col_boundary is None:
        return
    k = shape[1]
    for j in range(n_heads):
        x0 = j * (k + gap)
        draw_boundaries(ax, sel.row_boundary, sel.col_boundary, x0=x0, extent=(x0 - 0.5, x0 + k - 0.5))
