"""``head_summary``: a layer x head heatmap of any per-head number.

Entropy, confidence, attention to [SEP], change after fine-tuning: every per-head
statistic is a (layer, head) table, and this is its figure. Values are written in
the cells when the grid is small enough to read them; ``center=0`` switches to a
diverging map centred at 0 for differences.

Example:
    >>> import numpy as np
    >>> ax = head_summary(np.arange(6.0).reshape(2, 3), title="toy")
    >>> [t.get_text() for t in ax.texts][:3]
    ['0', '1', '2']
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np
from matplotlib import colors
from matplotlib.axes import Axes

from attnviz.plot.resize import on_resize
from attnviz.plot.theme import DIVERGING, SEQUENTIAL, font_points
from attnviz.plot.ticks import MIN_FONT, fit_ticks

MAX_AUTO_CELLS = 256  # annotate="auto" writes values up to this many cells (e.g. 12 x 12, 16 x 16)
# ... and only where the font fits (at least ticks.MIN_FONT points)
MAX_ANNOTATED_CELLS = 2500  # never more numbers than this in one map
VALUE_GID = "attnviz-value"  # gid of the value texts, so they can be refitted


def head_summary(
    values: Any,
    *,
    ax: Axes | None = None,
    layers: Sequence[Any] | None = None,
    heads: Sequence[Any] | None = None,
    cmap: Any = None,
    center: float | None = None,
    annotate: bool | str = "auto",
    title: str | None = None,
    cbar_label: str | None = None,
    fmt: str | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cbar: bool = True,
    **kwargs: Any,
) -> Axes:
    """Draw a (layer, head) table as a heatmap: rows layers, columns heads.

    Args:
        values: a 2-D array-like (layers x heads); a pandas DataFrame gives its index
            and columns as labels. NaN cells stay blank.
        ax: the Axes to draw on (a new figure when None).
        layers / heads: labels of the rows and columns (the model's numbers when
            the table covers a subset); default 0, 1, 2, ...
        cmap: colour map; viridis, or RdBu_r when ``center`` is given.
        center: value at the middle of a diverging map (``center=0`` for differences;
            the limits are then symmetric around it).
        annotate: "auto" (values in the cells when they fit), True or False.
        title, cbar_label: axes title and colour bar label.
        fmt: number format of the cell values (default: 2 significant decimals).
        vmin, vmax: colour limits; cbar: draw the colour bar.
        kwargs: passed to ``Axes.imshow``.

    Example:
        >>> import numpy as np
        >>> diff = np.array([[0.1, -0.2], [0.0, 0.3]])
        >>> ax = head_summary(diff, center=0, layers=[4, 5], cbar_label="change")
        >>> ax.images[0].norm.vmin, ax.images[0].norm.vmax
        (-0.3, 0.3)
    """
    table, row_names, col_names = _table(values, layers, heads)
    norm = _norm(table, center, vmin, vmax)
    if cmap is None:
        cmap = DIVERGING if center is not None else SEQUENTIAL
    if ax is None:
        ax = _new_axes(*table.shape)
    image = ax.imshow(table, cmap=cmap, norm=norm, interpolation="nearest", aspect="auto", **kwargs)
    image.set_rasterized(True)
    fig = ax.figure.get_figure(root=True)
    pos = ax.get_position()
    w_pt, h_pt = fig.get_size_inches() * 72 * (pos.width, pos.height)
    fit_ticks(ax.xaxis, range(table.shape[1]), [str(h) for h in col_names], w_pt,
              base=font_points("xtick.labelsize"))
    fit_ticks(ax.yaxis, range(table.shape[0]), [str(v) for v in row_names], h_pt,
              base=font_points("ytick.labelsize"))
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    if title:
        ax.set_title(title)
    if _should_annotate(annotate, table.shape):
        annotate_cells(ax, table, image, fmt, auto=annotate == "auto")
    if cbar:
        bar = fig.colorbar(image, ax=ax, label=cbar_label or "")
        if bar.solids is not None:
            bar.solids.set_rasterized(True)
    return ax


def _table(values: Any, layers, heads) -> tuple[np.ndarray, list, list]:
    index = getattr(values, "index", None)
    columns = getattr(values, "columns", None)
    array = np.asarray(values.to_numpy() if hasattr(values, "to_numpy") else values, dtype=float)
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"head_summary needs a 2-D (layers x heads) table, got shape {array.shape}: "
                         "pass one number per layer and head, e.g. an array of shape (6, 12)")
    rows = list(layers) if layers is not None else (list(index) if index is not None else list(range(array.shape[0])))
    cols = list(heads) if heads is not None else (list(columns) if columns is not None else list(range(array.shape[1])))
    if len(rows) != array.shape[0] or len(cols) != array.shape[1]:
        raise ValueError(f"{len(rows)} layer and {len(cols)} head labels for a table of shape {array.shape}: "
                         "give one label per row (layers=) and per column (heads=)")
    return array, rows, cols


def _norm(table: np.ndarray, center: float | None, vmin: float | None, vmax: float | None) -> colors.Normalize:
    finite = table[np.isfinite(table)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 1.0
    if center is None:
        return colors.Normalize(vmin=lo if vmin is None else vmin, vmax=hi if vmax is None else vmax)
    half = max(abs(hi - center), abs(center - lo)) or 1.0
    return colors.Normalize(vmin=center - half if vmin is None else vmin,
                            vmax=center + half if vmax is None else vmax)


def _new_axes(rows: int, cols: int) -> Axes:
    import matplotlib.pyplot as plt

    width = float(np.clip(0.38 * cols + 1.4, 3.0, 9.0))
    height = float(np.clip(0.3 * rows + 1.0, 1.8, 9.0))
    _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax


def _should_annotate(annotate: bool | str, shape: tuple[int, int]) -> bool:
    if annotate not in ("auto", True, False):
        raise ValueError(f"annotate={annotate!r}: use 'auto', True or False")
    if annotate != "auto":
        return bool(annotate)
    return shape[0] * shape[1] <= MAX_AUTO_CELLS


def default_format(data: np.ndarray) -> str:
    """One number format for a whole table: ints as ints, else 2 decimals (more for tiny values).

    Example:
        >>> default_format(np.array([1.0, 2.0])), default_format(np.array([0.5, -2.3])), default_format(np.array([0.04]))
        ('.0f', '.2f', '.3f')
    """
    finite = data[np.isfinite(data)]
    if finite.size == 0 or np.all(finite == np.round(finite)):
        return ".0f"
    top = float(np.abs(finite).max())
    decimals = int(np.clip(1 - np.floor(np.log10(top)), 0, 4)) if top > 0 else 2
    return f".{max(decimals, 2) if top < 10 else decimals}f"


def annotate_cells(ax: Axes, data: np.ndarray, image: Any, fmt: str | None = None, *, auto: bool = False) -> None:
    """Write each value in its cell, dark on light colours and light on dark ones.

    The font is sized to the cell (and refitted when :func:`~attnviz.save_figure`
    resizes the figure); with ``auto=True`` the values are hidden when they would
    be smaller than :data:`~attnviz.plot.ticks.MIN_FONT`.

    Example:
        >>> from matplotlib.figure import Figure
        >>> ax = Figure().add_subplot(); im = ax.imshow(np.eye(2))
        >>> annotate_cells(ax, np.eye(2), im, ".1f"); [t.get_text() for t in ax.texts]
        ['1.0', '0.0', '0.0', '1.0']
    """
    if data.size > MAX_ANNOTATED_CELLS:
        raise ValueError(f"annotating would write {data.size} numbers (the limit is {MAX_ANNOTATED_CELLS}): "
                         "use annotate=False, hide_special=True or a shorter text")
    rgba = image.cmap(image.norm(data))
    light = (0.2126 * rgba[..., 0] + 0.7152 * rgba[..., 1] + 0.0722 * rgba[..., 2]) > 0.5
    width, fmt = 1, fmt or default_format(data)
    for (i, j), value in np.ndenumerate(data):
        if np.isfinite(value):
            text = format(value, fmt)
            text = text.lstrip("-") if float(value) != 0 and float(text) == 0 else text
            width = max(width, len(text))
            ax.text(j, i, text, ha="center", va="center", gid=VALUE_GID,
                    color="black" if light[i, j] else "white")
    refit = functools.partial(_fit_values, shape=data.shape, chars=width, auto=auto)
    refit(ax)
    on_resize(ax.figure.get_figure(root=True), refit, ax)


def _fit_values(ax: Axes, *, shape: tuple[int, int], chars: int, auto: bool) -> None:
    """Size the cell values to the cells at the figure's current size."""
    fig = ax.figure.get_figure(root=True)
    pos = ax.get_position()
    w_pt, h_pt = fig.get_size_inches() * 72 * (pos.width, pos.height)
    size = min(font_points("font.size"), 0.5 * h_pt / shape[0], 0.92 * w_pt / shape[1] / (0.6 * chars))
    visible = size >= MIN_FONT or not auto
    for text in ax.texts:
        if text.get_gid() == VALUE_GID:
            text.set_fontsize(max(size, 3.0))
            text.set_visible(visible)
