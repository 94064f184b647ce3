"""The paper theme and the colour maps: :func:`paper_theme`, :data:`SEQUENTIAL`, :data:`DIVERGING`.

Nothing here leaves ``matplotlib.rcParams`` changed: the theme is a context manager.

Example:
    >>> with paper_theme():
    ...     font_points("xtick.labelsize")
    6.0
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import matplotlib as mpl

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

#: Perceptually uniform sequential map (default of every attention view).
SEQUENTIAL = "viridis"
#: Diverging map for differences, always centred at 0.
DIVERGING = "RdBu_r"

# What every export needs: TrueType fonts in PDF/PS, text kept as text in SVG.
EXPORT_RC: dict[RcKeyType, Any] = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}

PAPER_RC: dict[RcKeyType, Any] = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "figure.titlesize": 8,
    "xtick.labelsize": 6, "ytick.labelsize": 6, "legend.fontsize": 6,
    "axes.linewidth": 0.5, "xtick.major.width": 0.5, "ytick.major.width": 0.5,
    "xtick.major.size": 2, "ytick.major.size": 2, "xtick.major.pad": 1.5, "ytick.major.pad": 1.5,
    "lines.linewidth": 1.0, "image.cmap": SEQUENTIAL, "savefig.dpi": 300, **EXPORT_RC,
}


@contextlib.contextmanager
def paper_theme(**overrides: Any) -> Iterator[None]:
    """Context manager: font sizes for a column-width figure, viridis, TrueType fonts.

    Every rcParam is restored on exit; ``overrides`` are extra rcParams.

    Example:
        >>> import matplotlib as mpl
        >>> before = mpl.rcParams["font.size"]
        >>> with paper_theme():
        ...     mpl.rcParams["font.size"]
        7.0
        >>> mpl.rcParams["font.size"] == before
        True
    """
    with mpl.rc_context({**PAPER_RC, **cast("dict[RcKeyType, Any]", overrides)}):  # matplotlib checks the names
        yield


def font_points(key: str) -> float:
    """The current size in points of an rcParams font entry ("xtick.labelsize", ...).

    Example:
        >>> with paper_theme():
        ...     font_points("xtick.labelsize")
        6.0
    """
    from matplotlib.font_manager import FontProperties

    return float(FontProperties(size=mpl.rcParams[cast("RcKeyType", key)]).get_size_in_points())
