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

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from attnviz.capture import Capture
from attnviz.plot import _maps
from attnviz.plot.heatmap import draw_boundaries
from attnviz.plot.style import (MIN_FONT, SEQUENTIAL, WIDTHS, FigureView, fit_font, fit_ticks, font_points,
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
        self.layer_labels: list[Any] = []
        self.head_labels: list[Any] = []
        self._cax: Axes | None = None
        self._suptitle: Any = None

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
        """Lay out the grid for the figure's current size: margins, tokens, layer/head labels."""
        plan = _plan(self)
        w_pt, h_pt = self.figure.get_size_inches() * 72
        q, k = self._shape
        n_layers = len(self.layers)
        for i, ax in enumerate(self.row_axes):
            y = plan.bottom + (n_layers - 1 - i) * (plan.cell_h + ROW_GAP_PT)
            ax.set_position([plan.left / w_pt, y / h_pt, plan.width / w_pt, plan.cell_h / h_pt])
            if plan.y_font:
                fit_ticks(ax.yaxis, range(q), self.row_tokens, plan.cell_h, base=plan.y_font, thin=False)
            else:
                ax.set_yticks([])
            if i == n_layers - 1 and plan.x_font:
                positions = [j * (k + self._gap) + t for j in range(len(self.heads)) for t in range(k)]
                fit_ticks(ax.xaxis, positions, self.col_tokens * len(self.heads), plan.width,
                          base=plan.x_font, thin=False)
                ax.tick_params(axis="x", labelrotation=90)
            else:
                ax.set_xticks([])
            self.layer_labels[i].set_position((-(plan.y_token_w + 4) if plan.y_font else -3, 0))
            self.layer_labels[i].set_fontsize(plan.label_font)
        height = n_layers * plan.cell_h + (n_layers - 1) * ROW_GAP_PT
        self._cax.set_position([(w_pt - plan.right + CBAR_GAP_PT) / w_pt, plan.bottom / h_pt,
                                CBAR_WIDTH_PT / w_pt, height / h_pt])
        label = self._cax.yaxis.label  # shrink the colour bar's label to the bar's height
        label.set_fontsize(plan.label_font * min(1.0, height / (_text_width([label.get_text()], plan.label_font) + 6)))
        self._label_heads(plan)
        if self._suptitle is not None:
            self._suptitle.set_y(1 - 2 / h_pt)

    def _label_heads(self, plan: "_Plan") -> None:
        """"head h" above each column (just "h" under one "head" when the cells are narrow)."""
        top = self.row_axes[0]
        for text in self.head_labels:
            text.remove()
        q, k = self._shape
        size = plan.label_font
        style = dict(textcoords="offset points", ha="center", va="bottom", fontsize=size)
        self.head_labels = [
            top.annotate(f"head {h}" if plan.long_heads else str(h), xy=(j * (k + self._gap) + (k - 1) / 2, 1),
                         xycoords=top.get_xaxis_transform(), xytext=(0, 2), **style)
            for j, h in enumerate(self.heads)]
        if not plan.long_heads:
            self.head_labels.append(top.annotate("head", xy=(0.5, 1), xycoords="axes fraction",
                                                 xytext=(0, 3 + 1.3 * size), **style))


ROW_GAP_PT = 3.0       # space between two layer rows
CBAR_GAP_PT = 6.0      # space between the last head and the colour bar
CBAR_WIDTH_PT = 7.0
PAD_PT = 3.0           # outer padding of the figure


@dataclass
class _Plan:
    left: float
    right: float
    bottom: float
    top: float
    width: float
    cell_h: float
    cell_w: float
    x_font: float | None
    y_font: float | None
    y_token_w: float
    label_font: float
    long_heads: bool


def _text_width(texts: Sequence[str], size: float) -> float:
    """Width in points of the widest of ``texts`` (the 3 longest are measured)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    prop = FontProperties(size=size)
    longest = sorted(set(texts), key=len, reverse=True)[:3]
    return max((text_to_path.get_text_width_height_descent(t, prop, ismath=False)[0] for t in longest), default=0.0)


def _plan(grid: HeadGrid) -> _Plan:
    """Margins and label sizes (points) that fit the figure's current size."""
    w_pt, h_pt = grid.figure.get_size_inches() * 72
    q, k = grid._shape
    n_layers, n_heads = len(grid.layers), len(grid.heads)
    label = font_points("axes.labelsize")
    tick_x, tick_y = font_points("xtick.labelsize"), font_points("ytick.labelsize")
    layer_w = _text_width([f"layer {v}" for v in grid.layers], label)
    right = CBAR_GAP_PT + CBAR_WIDTH_PT + 4 + _text_width(["0.00", "10^-3"], tick_y) + 4 + 1.3 * label + PAD_PT
    span = n_heads * (k + grid._gap) - grid._gap
    left, bottom = PAD_PT + layer_w + 3, PAD_PT
    x_font = y_font = None
    y_token_w = 0.0
    for _ in range(2):
        width = max(w_pt - left - right, 10.0)
        cell_w = width * k / span
        long_heads = _text_width([f"head {max(grid.heads)}"], label) < 0.95 * cell_w
        top = PAD_PT + 2 + 1.3 * label * (1 if long_heads else 2) + (2.0 * label if grid._suptitle else 0)
        cell_h = max((h_pt - top - bottom - (n_layers - 1) * ROW_GAP_PT) / n_layers, 2.0)
        if grid._show_tokens:
            x_font = fit_font(k, cell_w, tick_x) or (MIN_FONT if grid._show_tokens is True else None)
            y_font = fit_font(q, cell_h, tick_y) or (MIN_FONT if grid._show_tokens is True else None)
            if x_font is None or y_font is None:  # "auto": tokens on both outer sides or on neither
                x_font = y_font = None
        y_token_w = _text_width(grid.row_tokens, y_font) + 5 if y_font else 0.0
        left = PAD_PT + layer_w + 3 + y_token_w
        bottom = PAD_PT + (_text_width(grid.col_tokens, x_font) + 5 if x_font else 0.0)
    width = max(w_pt - left - right, 10.0)
    cell_w = width * k / span
    cell_h = max((h_pt - top - bottom - (n_layers - 1) * ROW_GAP_PT) / n_layers, 2.0)
    return _Plan(left, right, bottom, top, width, cell_h, cell_w, x_font, y_font, y_token_w, label, long_heads)


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
    cmap = _maps.check_cmap(cmap)
    maps = _maps.attention_of(ex, kind)
    layer_ids, lpos = _maps.layer_positions(capture, layers, kind)
    head_ids, hpos = _maps.head_positions(capture, heads)
    if not layer_ids or not head_ids:
        raise ValueError("no layer or head to draw: give layers=/heads= at least one number each")
    sel = _maps.token_axes(ex, kind, hide_special)
    data = _maps.scaled(maps[np.ix_(lpos, hpos, sel.rows, sel.cols)], scale)
    norm = _maps.norm_for(data, scale, vmin, vmax)
    fig = Figure(figsize=(1, 1))
    row_axes = [fig.add_axes((0, 0, 1, 1)) for _ in layer_ids]
    gap = max(1, int(round(0.08 * data.shape[3])))
    images = [_draw_row(ax, data[i], gap, norm, cmap or SEQUENTIAL, kwargs) for i, ax in enumerate(row_axes)]
    for ax in row_axes:
        for spine in ax.spines.values():
            spine.set_visible(False)
        _draw_row_boundaries(ax, sel, data.shape[2:], gap, len(head_ids))
    grid = HeadGrid(fig, layer_ids, head_ids, row_axes, images, data.shape[2:], gap,
                    sel.row_labels, sel.col_labels, tokens)
    grid.layer_labels = [ax.annotate(f"layer {layer}", xy=(0, 0.5), xycoords="axes fraction", xytext=(-3, 0),
                                     textcoords="offset points", ha="right", va="center")
                         for ax, layer in zip(row_axes, layer_ids)]
    grid._cax = fig.add_axes((0.9, 0, 0.02, 1), label="<colorbar>")
    grid.colorbar = fig.colorbar(images[0], cax=grid._cax, label=_maps.cbar_label(scale))
    grid.colorbar.solids.set_rasterized(True)
    grid._suptitle = fig.suptitle(title, va="top") if title else None
    fig.set_size_inches(_figsize(grid, width))
    grid._fit_labels()
    on_resize(fig, HeadGrid._fit_labels, grid)
    set_provenance(fig, model=capture.model_name, model_type=capture.model_type, example=example,
                   text=_maps.example_text(ex), view=f"attention head grid ({kind})",
                   details=f"layers {layer_ids}, heads {head_ids}, scale {scale}")
    return grid


def _figsize(grid: HeadGrid, width: str | float | None) -> tuple[float, float]:
    """Figure size: the given width (default about CELL_INCHES a head), height for square-ish cells."""
    if width is None:
        w = CELL_INCHES * len(grid.heads) + 1.3
    elif isinstance(width, str):
        if width not in WIDTHS:
            raise ValueError(f"width={width!r}: use 'column', 'page' or a number of inches")
        w = WIDTHS[width]
    elif isinstance(width, (int, float)) and 1 <= width <= 50:
        w = float(width)
    else:
        raise ValueError(f"width={width!r}: give a number of inches between 1 and 50, or 'column'/'page'")
    q, k = grid._shape
    rows, heights = len(grid.layers), [12.0]
    for _ in range(4):  # the margins depend on the height (token labels fit or not): settle them
        grid.figure.set_size_inches(w, heights[-1])
        plan = _plan(grid)
        body = rows * plan.cell_w * q / k + (rows - 1) * ROW_GAP_PT
        heights.append(float(np.clip((plan.top + plan.bottom + body) / 72, 1.0, 14.0)))
    # at the edge, labels on/off can flip the height back and forth: keep the taller (labelled) one
    return w, max(heights[-2:]) if abs(heights[-1] - heights[-2]) > 0.02 * heights[-1] else heights[-1]


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
