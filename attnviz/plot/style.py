"""Paper theme, colour maps and export: :func:`paper_theme` and :func:`save_figure`.

Figures for papers need an exact width (one column is about 3.3 in, a full page
about 6.9 in), fonts embedded as TrueType so the PDF passes a publisher's checks,
text that stays text (searchable, editable) in PDF and SVG, heatmaps rasterized so
a vector file stays small, and a record of what the figure shows. ``save_figure``
does all of that in one call and writes the file atomically; nothing here leaves
``matplotlib.rcParams`` changed.

Example:
    >>> import tempfile, pathlib
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> cap = attnviz.extract(*tiny_model("bert"), "the cat sat")
    >>> grid = attnviz.plot.head_grid(cap)
    >>> out = attnviz.save_figure(grid, pathlib.Path(tempfile.mkdtemp()) / "grid.pdf", width="page")
    >>> out.read_bytes()[:5]
    b'%PDF-'
"""
from __future__ import annotations

import contextlib
import io
import os
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure, FigureBase

from attnviz.atomic import atomic_path

#: Figure widths in inches for the usual two-column paper layout.
WIDTHS = {"column": 3.3, "page": 6.9}
#: Output formats chosen by file extension.
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
#: Perceptually uniform sequential map (default of every attention view).
SEQUENTIAL = "viridis"
#: Diverging map for differences, always centred at 0.
DIVERGING = "RdBu_r"
#: Smallest font (points) a label may shrink to before it is thinned out or dropped.
MIN_FONT = 4.0

# What every export needs: TrueType fonts in PDF/PS, text kept as text in SVG.
EXPORT_RC = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "none"}

PAPER_RC = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "figure.titlesize": 8,
    "xtick.labelsize": 6, "ytick.labelsize": 6, "legend.fontsize": 6,
    "axes.linewidth": 0.5, "xtick.major.width": 0.5, "ytick.major.width": 0.5,
    "xtick.major.size": 2, "ytick.major.size": 2, "xtick.major.pad": 1.5, "ytick.major.pad": 1.5,
    "lines.linewidth": 1.0, "image.cmap": SEQUENTIAL, "savefig.dpi": 300, **EXPORT_RC,
}

# Per-figure data kept outside the Figure object (weak: dies with the figure).
_PROVENANCE: "weakref.WeakKeyDictionary[Figure, dict]" = weakref.WeakKeyDictionary()
_RELAYOUT: "weakref.WeakKeyDictionary[Figure, list]" = weakref.WeakKeyDictionary()


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
    with mpl.rc_context({**PAPER_RC, **overrides}):
        yield


def font_points(key: str) -> float:
    """The current size in points of an rcParams font entry ("xtick.labelsize", ...).

    Example:
        >>> with paper_theme():
        ...     font_points("xtick.labelsize")
        6.0
    """
    from matplotlib.font_manager import FontProperties

    return float(FontProperties(size=mpl.rcParams[key]).get_size_in_points())


#: Text properties that draw a string literally: no mathtext (``$x^2$`` stays as typed, ``$$``
#: does not raise) and no TeX even when ``text.usetex`` is on. Every token label goes through
#: :func:`fit_ticks` or :func:`literal`, so tokens show as they are in every figure.
LITERAL = {"parse_math": False, "usetex": False}


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


def set_provenance(fig: Figure, **info: Any) -> None:
    """Record what ``fig`` shows (model, text, view); :func:`save_figure` writes it.

    Example:
        >>> fig = Figure(); set_provenance(fig, model="m", text="hi")
        >>> provenance(fig)["model"]
        'm'
    """
    _PROVENANCE.setdefault(fig, {}).update({k: v for k, v in info.items() if v not in (None, "")})


def provenance(fig: Figure) -> dict:
    """What :func:`set_provenance` recorded for ``fig`` (empty when nothing).

    Example:
        >>> provenance(Figure())
        {}
    """
    return dict(_PROVENANCE.get(fig, {}))


def on_resize(fig: Figure, callback: Callable[[Any], None], target: Any) -> None:
    """Call ``callback(target)`` to refit labels whenever :func:`save_figure` resizes ``fig``.

    ``target`` (the Axes or figure object whose labels depend on the size) is held
    weakly, so registering never keeps a figure alive.

    Example:
        >>> fig = Figure(); ax = fig.add_subplot(); on_resize(fig, lambda a: None, ax)
    """
    _RELAYOUT.setdefault(fig, []).append((callback, weakref.ref(target)))


def relayout(fig: Figure) -> None:
    """Run the callbacks registered with :func:`on_resize` (after a size change).

    Example:
        >>> relayout(Figure())
    """
    for callback, ref in _RELAYOUT.get(fig, []):
        target = ref()
        if target is not None:
            callback(target)


def figure_of(obj: Any) -> Figure:
    """The matplotlib Figure of a Figure, an Axes or a figure-level attnviz object.

    Example:
        >>> figure_of(Figure()).__class__.__name__
        'Figure'
    """
    if isinstance(obj, Figure):
        return obj
    fig = getattr(obj, "figure", None)
    if isinstance(fig, FigureBase):
        return fig.get_figure(root=True)
    raise TypeError(f"cannot save a {type(obj).__name__}: pass a matplotlib Figure, an Axes, "
                    "or an attnviz figure object such as the HeadGrid from head_grid()")


def _width_inches(width: str | float | None, current: float) -> float:
    if width is None:
        return current
    if isinstance(width, str):
        if width not in WIDTHS:
            raise ValueError(f"width={width!r} is not a preset: use 'column' ({WIDTHS['column']} in), "
                             f"'page' ({WIDTHS['page']} in) or a number of inches")
        return WIDTHS[width]
    if not isinstance(width, (int, float)) or not 0.5 <= float(width) <= 50:
        raise ValueError(f"width={width!r}: give a number of inches between 0.5 and 50, or 'column'/'page'")
    return float(width)


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write {path.name}: the extension {path.suffix or '(none)'!r} is not "
                         "supported; use .png, .pdf or .svg")
    return fmt


def _metadata(fmt: str, info: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict:
    """File metadata for one format from the recorded provenance plus the caller's keys."""
    from attnviz._version import __version__

    model, text = str(info.get("model", "")), str(info.get("text", ""))[:2000]
    view = str(info.get("view", "attnviz figure"))
    short = "/".join(Path(model).parts[-2:]) if os.sep in model or "/" in model else model
    title = f"{view} ({short})" if model else view
    keywords = ["attnviz"] + [f"{k}={info[k]}" for k in ("model", "model_type", "example", "details")
                              if info.get(k) not in (None, "")]
    software = f"attnviz {__version__}, matplotlib {mpl.__version__}"
    allowed = {"pdf": {"Title", "Author", "Subject", "Keywords", "Creator", "Producer"},
               "svg": {"Title", "Description", "Creator", "Date", "Source", "Subject", "Rights",
                       "Contributor", "Publisher", "Identifier", "Language", "Relation", "Type",
                       "Coverage", "Format"},
               "png": None}[fmt]
    if fmt == "pdf":
        meta: dict[str, Any] = {"Title": title, "Subject": text, "Creator": software}
    elif fmt == "svg":
        meta = {"Title": title, "Description": text, "Creator": software, "Source": model}
    else:
        meta = {"Title": title, "Description": text, "Software": software, "Source": model}
    for key, value in (extra or {}).items():
        if allowed is None or key in allowed:
            meta[key] = str(value)
        else:
            keywords.append(f"{key}={value}")
    if fmt == "pdf":
        meta["Keywords"] = ", ".join(keywords)
    elif fmt == "svg":
        meta["Keywords"] = keywords
    else:
        meta["Keywords"] = ", ".join(keywords)
    return {k: v for k, v in meta.items() if v not in ("", None, [])}


def save_figure(fig_or_grid: Any, path: str | os.PathLike, *, width: str | float | None = None,
                height: float | None = None, dpi: float = 300, metadata: Mapping[str, Any] | None = None,
                **kwargs: Any) -> Path:
    """Write a figure for a paper: PNG, PDF or SVG by extension, atomically.

    Args:
        fig_or_grid: a Figure, an Axes, or an attnviz figure object (HeadGrid, ...).
        path: output file; ``.png``, ``.pdf`` or ``.svg``.
        width: ``"column"`` (3.3 in), ``"page"`` (6.9 in), a number of inches, or None
            to keep the figure's width. The figure is resized for the file only
            (labels are refitted) and restored afterwards.
        height: inches; None keeps the aspect ratio.
        dpi: resolution of PNG files and of the rasterized heatmaps inside PDF/SVG.
        metadata: extra keys for the file's metadata (PDF/SVG/PNG fields such as
            "Author"; other keys are appended to the keywords). The model and the
            example text recorded by the plotting function are always written.
        kwargs: passed to ``Figure.savefig``.

    Fonts are embedded as TrueType in PDF (``pdf.fonttype`` 42) and kept as text in
    SVG (``svg.fonttype`` "none"); rcParams are restored afterwards.

    Example:
        >>> import tempfile, pathlib
        >>> fig = Figure(figsize=(4, 3)); _ = fig.add_subplot().plot([0, 1])
        >>> p = save_figure(fig, pathlib.Path(tempfile.mkdtemp()) / "f.png", width="column", dpi=100)
        >>> p.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n", fig.get_size_inches().tolist()
        (True, [4.0, 3.0])
    """
    fig = figure_of(fig_or_grid)
    path = Path(path)
    fmt = _format(path)
    if not isinstance(dpi, (int, float)) or dpi <= 0:
        raise ValueError(f"dpi={dpi!r}: give a positive number such as 300")
    w0, h0 = (float(v) for v in fig.get_size_inches())
    w = _width_inches(width, w0)
    if height is not None and (not isinstance(height, (int, float)) or height <= 0):
        raise ValueError(f"height={height!r}: give a positive number of inches, or None to keep the aspect")
    h = float(height) if height is not None else h0 * w / w0
    meta = _metadata(fmt, provenance(fig), metadata)
    try:
        if (w, h) != (w0, h0):
            fig.set_size_inches(w, h)
            relayout(fig)
        with mpl.rc_context(EXPORT_RC), atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta, **kwargs)
    finally:
        if (w, h) != (w0, h0):
            fig.set_size_inches(w0, h0)
            relayout(fig)
    return path


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
        self.figure.savefig(buf, format="png", dpi=110)
        return buf.getvalue()

    def __repr__(self) -> str:
        w, h = self.figure.get_size_inches()
        return f"{type(self).__name__}({w:.1f} x {h:.1f} in)"
