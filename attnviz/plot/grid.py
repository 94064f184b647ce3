"""``head_grid``: every layer (rows) by every head (columns), one shared colour scale.

Speed is the point: a ``plt.subplots(L, H)`` loop builds L x H Axes with their own
ticks (about 6 ms each before anything is drawn) and, with per-axis token labels,
takes seconds. Here the whole grid is ONE image (every head of every layer in one
mosaic, cells separated by thin transparent gaps) in ONE Axes, token labels go on
the outer cells only (left column, bottom row), or nowhere when they would not be
readable, and one colour bar serves the whole grid: two Axes in all, close to the
cost of a bare ``imshow`` + ``savefig``. The per-cell Axes of :attr:`HeadGrid.axes`
are made only when asked for, as transparent overlays in each cell's token coordinates.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", "the cat sat")
    >>> grid = attnviz.plot.head_grid(cap, layers=[1], heads=[0, 2])
    >>> grid.axes.shape, grid.matrix(1, 2).shape
    ((1, 2), (5, 5))
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from attnviz.capture import Capture
from attnviz.plot import _maps
from attnviz.plot.export import WIDTHS
from attnviz.plot.provenance import set_provenance
from attnviz.plot.resize import on_resize
from attnviz.plot.theme import SEQUENTIAL, font_points
from attnviz.plot.ticks import LITERAL, MIN_FONT, fit_font, fit_ticks
from attnviz.plot.view import FigureView

CELL_INCHES = 0.55  # default cell size when no width is given
CBAR_GAP_PT = 6.0   # space between the last head and the colour bar
CBAR_WIDTH_PT = 7.0
PAD_PT = 3.0        # outer padding of the figure


class HeadGrid(FigureView):
    """The figure of :func:`head_grid`: a layer x head grid of attention maps.

    Built from the prepared maps by :func:`head_grid` (use that function); the grid lays
    itself out and refits its labels whenever :func:`~attnviz.save_figure` resizes it.

    Attributes:
        figure: the matplotlib Figure (not managed by pyplot: it shows through
            ``_repr_png_`` in notebooks and is saved with :meth:`savefig`).
        layers / heads: the model's layer and head numbers of the rows and columns.
        ax: the one Axes holding the mosaic; ``image``: its one AxesImage (every cell).
            Layer row ``i`` spans data y from ``i * (queries + gap)``, head column ``j``
            x from ``j * (keys + gap)`` (see :meth:`cell_origin`).
        colorbar: the one colour bar of the grid.
        layer_labels / head_labels: the Text objects naming the rows and columns.
        row_tokens / col_tokens: the (display) tokens of each cell's rows and columns.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> grid = head_grid(tiny_capture("gpt2", "hello there"))
        >>> grid.layers, grid.heads
        ([0, 1], [0, 1, 2, 3])
    """

    def __init__(self, data: np.ndarray, *, layers: list[int], heads: list[int], row_tokens: list[str],
                 col_tokens: list[str], norm: Normalize, cmap: Any = None, cbar_label: str = "attention",
                 tokens: str | bool = "auto", width: str | float | None = None, title: str | None = None,
                 row_boundary: float | None = None, col_boundary: float | None = None,
                 imshow_kwargs: dict | None = None) -> None:
        super().__init__(Figure(figsize=(1, 1)))
        q, k = data.shape[2:]
        self.layers, self.heads = list(layers), list(heads)
        self.row_tokens, self.col_tokens = list(row_tokens), list(col_tokens)
        self.shape = (q, k)
        self.gap = max(1, round(0.08 * k))
        self._show_tokens = tokens
        self._cells: np.ndarray | None = None
        fig = self.figure
        self.ax = fig.add_axes((0, 0, 1, 1))
        for spine in self.ax.spines.values():
            spine.set_visible(False)
        self.image = self.ax.imshow(self._mosaic(data), cmap=cmap or SEQUENTIAL, norm=norm,
                                    interpolation="nearest", aspect="auto", **(imshow_kwargs or {}))
        self.image.set_rasterized(True)
        self.boundaries = self._draw_boundaries(row_boundary, col_boundary)
        self.layer_labels = [self.ax.annotate(f"layer {layer}", xy=(0, self._row_center(i)),
                                              xycoords=self.ax.get_yaxis_transform(), xytext=(-3, 0),
                                              textcoords="offset points", ha="right", va="center")
                             for i, layer in enumerate(self.layers)]
        self.head_labels: list[Any] = []
        self._cax = fig.add_axes((0.9, 0, 0.02, 1), label="<colorbar>")
        self.colorbar = fig.colorbar(self.image, cax=self._cax, label=cbar_label)
        if self.colorbar.solids is not None:
            self.colorbar.solids.set_rasterized(True)
        self.colorbar.locator = _colorbar_locator(norm)  # ~5 round values: each label costs a text draw
        self._suptitle = fig.suptitle(title, va="top", **LITERAL) if title else None
        fig.set_size_inches(self._figsize(width))
        self._fit_labels()
        on_resize(fig, HeadGrid._fit_labels, self)

    # -- geometry ------------------------------------------------------------------------------
    @property
    def span(self) -> tuple[int, int]:
        """(height, width) of the mosaic in cells' token units, gaps included."""
        q, k = self.shape
        return len(self.layers) * (q + self.gap) - self.gap, len(self.heads) * (k + self.gap) - self.gap

    def cell_origin(self, layer: int, head: int) -> tuple[int, int]:
        """(y, x) in :attr:`ax` data coordinates of the first query/key of a cell (model numbers).

        Example:
            >>> from attnviz.testing import tiny_capture
            >>> grid = head_grid(tiny_capture("bert", "a b"))
            >>> grid.cell_origin(1, 2) == (grid.shape[0] + grid.gap, 2 * (grid.shape[1] + grid.gap))
            True
        """
        if layer not in self.layers or head not in self.heads:
            raise ValueError(f"layer {layer}, head {head} is not in this grid (layers {self.layers}, "
                             f"heads {self.heads}): pick one of those")
        q, k = self.shape
        return self.layers.index(layer) * (q + self.gap), self.heads.index(head) * (k + self.gap)

    def _row_center(self, i: int) -> float:
        q = self.shape[0]
        return i * (q + self.gap) + (q - 1) / 2

    def _mosaic(self, data: np.ndarray) -> np.ndarray:
        """Every cell in one array, NaN (transparent) in the gaps."""
        n_layers, n_heads, q, k = data.shape
        g = self.gap
        padded = np.full((n_layers, q + g, n_heads, k + g), np.nan, dtype=np.float32)
        padded[:, :q, :, :k] = data.transpose(0, 2, 1, 3)
        mosaic = padded.reshape(n_layers * (q + g), n_heads * (k + g))[:n_layers * (q + g) - g, :n_heads * (k + g) - g]
        return mosaic

    def _draw_boundaries(self, row: float | None, col: float | None) -> LineCollection | None:
        """The prompt/generated boundary in every cell, as ONE LineCollection (or None)."""
        if row is None and col is None:
            return None
        q, k = self.shape
        segments = []
        for i in range(len(self.layers)):
            y0 = i * (q + self.gap)
            for j in range(len(self.heads)):
                x0 = j * (k + self.gap)
                if row is not None:
                    segments.append([(x0 - 0.5, y0 + row), (x0 + k - 0.5, y0 + row)])
                if col is not None:
                    segments.append([(x0 + col, y0 - 0.5), (x0 + col, y0 + q - 0.5)])
        lines = LineCollection(segments, colors="white", linewidths=0.8, alpha=0.9, label="prompt boundary")
        self.ax.add_collection(lines, autolim=False)
        return lines

    # -- the public views of the cells ----------------------------------------------------------
    @property
    def images(self) -> list[AxesImage]:
        """The grid's images: the one mosaic image (a list, as for other figures)."""
        return [self.image]

    @property
    def row_axes(self) -> list[Axes]:
        """The Axes of each layer row: every row now lives in the one Axes :attr:`ax`.

        Kept for code written for the older one-Axes-per-row layout; in :attr:`ax`'s data
        coordinates row ``i`` starts at ``y = i * (queries + gap)`` (:meth:`cell_origin`).
        Mark single cells through :attr:`axes` instead.
        """
        return [self.ax] * len(self.layers)

    @property
    def axes(self) -> np.ndarray:
        """(layers x heads) array of Axes, one per cell, in the cell's token coordinates.

        Made on first access (so an unused grid stays fast): transparent Axes over
        each cell with x from -0.5 to keys-0.5 and y from queries-0.5 down to -0.5,
        so ``grid.axes[i, j].add_patch(...)`` marks a token pair of that cell.

        Example:
            >>> from attnviz.testing import tiny_capture
            >>> grid = head_grid(tiny_capture("bert", "a b"), heads=[1, 3])
            >>> grid.axes.shape, [float(x) for x in grid.axes[0, 1].get_xlim()]
            ((2, 2), [-0.5, 3.5])
        """
        if self._cells is None:
            self._cells = np.empty((len(self.layers), len(self.heads)), dtype=object)
            q, k = self.shape
            height, width = self.span
            for i in range(len(self.layers)):
                bottom = (height - i * (q + self.gap) - q) / height
                for j in range(len(self.heads)):
                    cell = self.ax.inset_axes((j * (k + self.gap) / width, bottom, k / width, q / height))
                    cell.set_xlim(-0.5, k - 0.5)
                    cell.set_ylim(q - 0.5, -0.5)
                    cell.set_axis_off()
                    cell.patch.set_visible(False)
                    self._cells[i, j] = cell
        return self._cells

    def matrix(self, layer: int, head: int) -> np.ndarray:
        """The values drawn in the cell of model layer ``layer`` and head ``head``.

        Read back from the mosaic image, so it is exactly what the figure shows.

        Example:
            >>> from attnviz.testing import tiny_capture
            >>> cap = tiny_capture("bert", "a b")
            >>> np.allclose(head_grid(cap).matrix(1, 3), cap[0].attentions[1, 3])
            True
        """
        y0, x0 = self.cell_origin(layer, head)
        q, k = self.shape
        values = self.image.get_array()
        assert values is not None  # set when the mosaic is drawn
        return np.asarray(values[y0:y0 + q, x0:x0 + k])

    # -- layout ---------------------------------------------------------------------------------
    def _fit_labels(self) -> None:
        """Lay out the grid for the figure's current size: margins, tokens, layer/head labels."""
        plan = self._plan()
        w_pt, h_pt = self.figure.get_size_inches() * 72
        q, k = self.shape
        n_layers, n_heads = len(self.layers), len(self.heads)
        height = h_pt - plan.top - plan.bottom
        self.ax.set_position((plan.left / w_pt, plan.bottom / h_pt, plan.width / w_pt, height / h_pt))
        if plan.y_font:
            positions = [i * (q + self.gap) + t for i in range(n_layers) for t in range(q)]
            fit_ticks(self.ax.yaxis, positions, self.row_tokens * n_layers, plan.cell_h * n_layers,
                      base=plan.y_font, thin=False)
        else:
            self.ax.set_yticks([])
        if plan.x_font:
            positions = [j * (k + self.gap) + t for j in range(n_heads) for t in range(k)]
            fit_ticks(self.ax.xaxis, positions, self.col_tokens * n_heads, plan.cell_w * n_heads,
                      base=plan.x_font, thin=False)
            self.ax.tick_params(axis="x", labelrotation=90)
        else:
            self.ax.set_xticks([])
        self.ax.xaxis.set_visible(bool(plan.x_font))  # an Axis without labels still costs a draw
        self.ax.yaxis.set_visible(bool(plan.y_font))
        for layer_label in self.layer_labels:
            layer_label.set_position((-(plan.y_token_w + 4) if plan.y_font else -3, 0))
            layer_label.set_fontsize(plan.label_font)
        self._cax.set_position(((w_pt - plan.right + CBAR_GAP_PT) / w_pt, plan.bottom / h_pt,
                                CBAR_WIDTH_PT / w_pt, height / h_pt))
        label = self._cax.yaxis.label  # shrink the colour bar's label to the bar's height
        label.set_fontsize(plan.label_font * min(1.0, height / (_text_width([label.get_text()], plan.label_font) + 6)))
        self._label_heads(plan)
        if self._suptitle is not None:
            self._suptitle.set_y(1 - 2 / h_pt)

    def _label_heads(self, plan: _Plan) -> None:
        """"head h" above each column (just "h" under one "head" when the cells are narrow)."""
        for text in self.head_labels:
            text.remove()
        k = self.shape[1]
        size = plan.label_font
        style: dict[str, Any] = {"textcoords": "offset points", "ha": "center", "va": "bottom", "fontsize": size}
        self.head_labels = [
            self.ax.annotate(f"head {h}" if plan.long_heads else str(h), xy=(j * (k + self.gap) + (k - 1) / 2, 1),
                             xycoords=self.ax.get_xaxis_transform(), xytext=(0, 2), **style)
            for j, h in enumerate(self.heads)]
        if not plan.long_heads:
            self.head_labels.append(self.ax.annotate("head", xy=(0.5, 1), xycoords="axes fraction",
                                                     xytext=(0, 3 + 1.3 * size), **style))

    def _plan(self) -> _Plan:
        """Margins and label sizes (points) that fit the figure's current size."""
        w_pt, h_pt = self.figure.get_size_inches() * 72
        q, k = self.shape
        span_h, span_w = self.span
        label = font_points("axes.labelsize")
        tick_x, tick_y = font_points("xtick.labelsize"), font_points("ytick.labelsize")
        layer_w = _text_width([f"layer {v}" for v in self.layers], label)
        right = CBAR_GAP_PT + CBAR_WIDTH_PT + 4 + _text_width(["0.00", "10^-3"], tick_y) + 4 + 1.3 * label + PAD_PT
        base_bottom = PAD_PT + 0.6 * tick_y  # room for the colour bar's lowest tick label
        left, bottom = PAD_PT + layer_w + 3, base_bottom
        x_font = y_font = None
        y_token_w = 0.0
        for _ in range(2):
            width = max(w_pt - left - right, 10.0)
            cell_w = width * k / span_w
            long_heads = _text_width([f"head {max(self.heads)}"], label) < 0.95 * cell_w
            top = PAD_PT + 2 + 1.3 * label * (1 if long_heads else 2) + (2.0 * label if self._suptitle else 0)
            cell_h = max((h_pt - top - bottom) * q / span_h, 2.0)
            if self._show_tokens:
                x_font = fit_font(k, cell_w, tick_x) or (MIN_FONT if self._show_tokens is True else None)
                y_font = fit_font(q, cell_h, tick_y) or (MIN_FONT if self._show_tokens is True else None)
                if x_font is None or y_font is None:  # "auto": tokens on both outer sides or on neither
                    x_font = y_font = None
            y_token_w = _text_width(self.row_tokens, y_font) + 5 if y_font else 0.0
            left = PAD_PT + layer_w + 3 + y_token_w
            bottom = max(base_bottom, PAD_PT + (_text_width(self.col_tokens, x_font) + 5 if x_font else 0.0))
        width = max(w_pt - left - right, 10.0)
        cell_w = width * k / span_w
        cell_h = max((h_pt - top - bottom) * q / span_h, 2.0)
        return _Plan(left, right, bottom, top, width, cell_h, cell_w, x_font, y_font, y_token_w, label, long_heads)

    def _figsize(self, width: str | float | None) -> tuple[float, float]:
        """Figure size: the given width (default about CELL_INCHES a head), height for square cells."""
        if width is None:
            w = CELL_INCHES * len(self.heads) + 1.3
        elif isinstance(width, str):
            if width not in WIDTHS:
                raise ValueError(f"width={width!r}: use 'column', 'page' or a number of inches")
            w = WIDTHS[width]
        elif isinstance(width, (int, float)) and not isinstance(width, bool) and 1 <= width <= 50:
            w = float(width)
        else:
            raise ValueError(f"width={width!r}: give a number of inches between 1 and 50, or 'column'/'page'")
        k = self.shape[1]
        span_h = self.span[0]
        heights = [12.0]
        for _ in range(4):  # the margins depend on the height (token labels fit or not): settle them
            self.figure.set_size_inches(w, heights[-1])
            plan = self._plan()
            body = span_h * plan.cell_w / k  # square token cells, gaps as wide as the columns' gaps
            heights.append(float(np.clip((plan.top + plan.bottom + body) / 72, 1.0, 14.0)))
            if abs(heights[-1] - heights[-2]) < 1e-3:
                break
        # at the edge, labels on/off can flip the height back and forth: keep the taller (labelled) one
        return w, max(heights[-2:]) if abs(heights[-1] - heights[-2]) > 0.02 * heights[-1] else heights[-1]


def _colorbar_locator(norm: Normalize) -> Any:
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import LogLocator, MaxNLocator

    return LogLocator(numticks=5) if isinstance(norm, LogNorm) else MaxNLocator(nbins=5, steps=[1, 2, 5, 10])


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
    longest = sorted(set(texts), key=len, reverse=True)[:3]
    return max((_one_width(t, float(size)) for t in longest), default=0.0)


@functools.lru_cache(maxsize=4096)
def _one_width(text: str, size: float) -> float:
    """Width in points of one string at ``size`` in the default font (cached: the layout asks often)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    return float(text_to_path.get_text_width_height_descent(text, FontProperties(size=size), ismath=False)[0])


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
        kwargs: passed to ``Axes.imshow`` (the one call that draws the whole mosaic).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat sat on the mat")
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
    index = np.ix_(np.asarray(lpos, dtype=np.intp), np.asarray(hpos, dtype=np.intp), sel.rows, sel.cols)
    data = _maps.scaled(maps[index], scale)
    norm = _maps.norm_for(data, scale, vmin, vmax)
    grid = HeadGrid(data, layers=layer_ids, heads=head_ids, row_tokens=sel.row_labels, col_tokens=sel.col_labels,
                    norm=norm, cmap=cmap, cbar_label=_maps.cbar_label(scale), tokens=tokens, width=width,
                    title=title, row_boundary=sel.row_boundary, col_boundary=sel.col_boundary, imshow_kwargs=kwargs)
    set_provenance(grid.figure, model=capture.model_name, model_type=capture.model_type, example=example,
                   text=_maps.example_text(ex), view=f"attention head grid ({kind})",
                   details=f"layers {layer_ids}, heads {head_ids}, scale {scale}")
    return grid
