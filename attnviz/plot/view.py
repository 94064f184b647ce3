"""The base of figure-level results: ``.figure``, ``.axes``, ``.savefig()``, ``_repr_png_``.

Example:
    >>> from matplotlib.figure import Figure
    >>> FigureView(Figure(figsize=(2, 2)))
    FigureView(2.0 x 2.0 in)
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from attnviz.plot.export import PNG_COMPRESS_LEVEL, save_figure


class FigureView:
    """Base of the figure-level results: ``.figure``, ``.axes``, ``.savefig()``, ``_repr_png_``.

    Example:
        >>> view = FigureView(Figure(figsize=(2, 2)))
        >>> view._repr_png_()[:4]
        b'\\x89PNG'
    """

    def __init__(self, figure: Figure) -> None:
        self.figure = figure

    def savefig(self, path: str | os.PathLike, **kwargs: Any) -> Path:
        """Save with :func:`save_figure` (same keywords: width, height, dpi, metadata).

        Example:
            >>> import tempfile, pathlib
            >>> FigureView(Figure()).savefig(pathlib.Path(tempfile.mkdtemp()) / "v.svg").suffix
            '.svg'
        """
        return save_figure(self, path, **kwargs)

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=110, pil_kwargs={"compress_level": PNG_COMPRESS_LEVEL})
        return buf.getvalue()

    def __repr__(self) -> str:
        w, h = self.figure.get_size_inches()
        return f"{type(self).__name__}({w:.1f} x {h:.1f} in)"


class PlotAxesView(FigureView):
    """A figure-level result whose ``.axes`` are its plotting axes (colour bars left out).

    Example:
        >>> f = Figure(); _ = f.add_subplot()
        >>> len(PlotAxesView(f).axes)
        1
    """

    @property
    def axes(self) -> list[Axes]:
        """The plotting axes (colour bars left out)."""
        return [ax for ax in self.figure.axes if ax.get_label() != "<colorbar>"]
