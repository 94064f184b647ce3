"""Paper theme, tick fitting, provenance, resize hooks, export and FigureView: one import.

A facade kept for the code (and users) that import from ``attnviz.plot.style``; each
responsibility lives in its own module:

* :mod:`attnviz.plot.theme`: :func:`paper_theme`, :data:`SEQUENTIAL`, :data:`DIVERGING`, :func:`font_points`.
* :mod:`attnviz.plot.ticks`: :func:`fit_ticks`, :func:`fit_token_ticks`, :func:`fit_font`, :func:`literal`.
* :mod:`attnviz.plot.provenance`: :func:`set_provenance`, :func:`provenance`.
* :mod:`attnviz.plot.resize`: :func:`on_resize`, :func:`relayout`.
* :mod:`attnviz.plot.export`: :func:`save_figure`, :func:`figure_of`, :func:`file_format`, :data:`WIDTHS`.
* :mod:`attnviz.plot.view`: :class:`FigureView`.

Example (the names are the same objects as in their own modules; :mod:`attnviz.plot.export`
shows :func:`save_figure` at work):
    >>> from attnviz.plot import export, style, view
    >>> style.save_figure is export.save_figure and style.FigureView is view.FigureView
    True
"""
from __future__ import annotations

from attnviz.plot.export import (
                                 FORMATS,
                                 PNG_COMPRESS_LEVEL,
                                 WIDTHS,
                                 figure_of,
                                 file_format,
                                 file_metadata,
                                 save_figure,
                                 width_inches,
)
from attnviz.plot.provenance import _PROVENANCE, provenance, set_provenance  # noqa: F401
from attnviz.plot.resize import _RELAYOUT, on_resize, relayout  # noqa: F401
from attnviz.plot.theme import (
                                 DIVERGING,
                                 EXPORT_RC,
                                 PAPER_RC,
                                 SEQUENTIAL,
                                 font_points,
                                 paper_theme,
)
from attnviz.plot.ticks import (
                                 LITERAL,
                                 MIN_FONT,
                                 fit_font,
                                 fit_ticks,
                                 fit_token_ticks,
                                 literal,
)
from attnviz.plot.view import FigureView

# The old private names, kept for code that used them.
_format = file_format
_width_inches = width_inches
_metadata = file_metadata

__all__ = [
                                 "DIVERGING",
                                 "EXPORT_RC",
                                 "FORMATS",
                                 "LITERAL",
                                 "MIN_FONT",
                                 "PAPER_RC",
                                 "PNG_COMPRESS_LEVEL",
                                 "SEQUENTIAL",
                                 "WIDTHS",
                                 "FigureView",
                                 "figure_of",
                                 "file_format",
                                 "file_metadata",
                                 "fit_font",
                                 "fit_ticks",
                                 "fit_token_ticks",
                                 "font_points",
                                 "literal",
                                 "on_resize",
                                 "paper_theme",
                                 "provenance",
                                 "relayout",
                                 "save_figure",
                                 "set_provenance",
                                 "width_inches",
]
