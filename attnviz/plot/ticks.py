"""Token tick labels that fit: font sizes shrink to :data:`MIN_FONT`, then labels thin out or go.

Example:
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().add_subplot()
    >>> fit_ticks(ax.xaxis, [0, 1], ["a", "b"], 100.0, base=8.0)
    8.0
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure  # noqa: F401  (used in the doctests)

from attnviz.plot.theme import font_points

#: Smallest font (points) a label may shrink to before it is thinned out or dropped.
MIN_FONT = 4.0

#: Text properties that draw a string literally: no mathtext (``$x^2$`` stays as typed, ``$$``
#: does not raise) and no TeX even when ``text.usetex`` is on. Every token label goes through
#: :func:`fit_ticks` or :func:`literal`, so tokens show as they are in every figure.
LITERAL: dict[str, Any] = {"parse_math": False, "usetex": False}


def literal(*texts: Any) -> None:
    """Make matplotlib Text objects draw their string literally (see :data:`LITERAL`).

    Example:
        >>> ax = Figure().add_subplot()
        >>> t = ax.set_title("$x^2$"); literal(t); t.get_parse_math()
        False
    """
    for text in texts:
        if text is not None:
            text.set(**LITERAL)


def fit_font(count: int, length_pt: float, base: float) -> float | None:
    """Font size so that ``count`` labels fit along ``length_pt`` points, or None.

    Example:
        >>> fit_font(10, 100.0, 8.0), fit_font(100, 100.0, 8.0)
        (8.0, None)
    """
    if count <= 0:
        return base
    size = min(base, 0.9 * length_pt / count)
    return size if size >= MIN_FONT else None


def fit_ticks(axis: Any, positions: Sequence[float], labels: Sequence[str], length_pt: float, *,
              base: float, thin: bool = True) -> float | None:
    """Put ``labels`` on a matplotlib Axis at a font size that fits, thinned or dropped.

    The font shrinks (down to :data:`MIN_FONT`) so every label fits along
    ``length_pt``; beyond that every k-th label is kept when ``thin`` is true, or no
    label at all. Returns the font size used (None when the labels were dropped).

    Example:
        >>> ax = Figure().add_subplot()
        >>> fit_ticks(ax.xaxis, [0, 1], ["a", "b"], 100.0, base=8.0)
        8.0
        >>> [t.get_text() for t in ax.get_xticklabels()]
        ['a', 'b']
    """
    size = fit_font(len(labels), length_pt, base)
    step = 1
    if size is None and thin and labels:
        size = MIN_FONT
        step = int(np.ceil(len(labels) * MIN_FONT / max(0.9 * length_pt, 1e-9)))
    if size is None:
        axis.set_ticks([])
        return None
    axis.set_ticks(list(positions)[::step], [str(v) for v in list(labels)[::step]], **LITERAL)
    axis.set_tick_params(labelsize=size)
    return size


def fit_token_ticks(ax: Any, *, rows: Sequence[str] | None, cols: Sequence[str]) -> None:
    """Token labels on both axes at a size that fits the axes' current size (thinned when long).

    ``cols`` label the x axis (rotated 90 degrees), ``rows`` the y axis (None: leave it).

    Example:
        >>> from matplotlib.figure import Figure
        >>> ax = Figure(figsize=(3, 3)).add_subplot()
        >>> fit_token_ticks(ax, rows=["a", "b"], cols=["a", "b"])
        >>> [t.get_text() for t in ax.get_yticklabels()]
        ['a', 'b']
    """
    fig = ax.figure.get_figure(root=True)
    pos = ax.get_position()
    w_pt, h_pt = fig.get_size_inches() * 72 * (pos.width, pos.height)
    fit_ticks(ax.xaxis, range(len(cols)), cols, w_pt, base=font_points("xtick.labelsize"))
    if rows is not None:
        fit_ticks(ax.yaxis, range(len(rows)), rows, h_pt, base=font_points("ytick.labelsize"))
    ax.tick_params(axis="x", labelrotation=90)
