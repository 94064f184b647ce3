"""Export for papers: :func:`save_figure` writes PNG, PDF or SVG at a paper width, atomically.

Fonts are embedded as TrueType (PDF) or kept as text (SVG), heatmaps stay rasterized
inside vector files, the provenance recorded by the plotting function becomes the
file's metadata, and rcParams are restored afterwards.

Example:
    >>> import tempfile, pathlib
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", "the cat sat")
    >>> grid = attnviz.plot.head_grid(cap)
    >>> out = save_figure(grid, pathlib.Path(tempfile.mkdtemp()) / "grid.pdf", width="page")
    >>> out.read_bytes()[:5]
    b'%PDF-'
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib as mpl
from matplotlib.figure import Figure, FigureBase

from attnviz.atomic import atomic_path
from attnviz.plot.provenance import provenance
from attnviz.plot.resize import relayout
from attnviz.plot.theme import EXPORT_RC

#: Figure widths in inches for the usual two-column paper layout.
WIDTHS = {"column": 3.3, "page": 6.9}
#: Output formats chosen by file extension.
FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
#: zlib level of PNG files: 6 (PIL's default) costs about a third of a grid's time; 1 encodes
#: several times faster for files about 10-15% larger (heatmaps compress poorly at any level).
PNG_COMPRESS_LEVEL = 1


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


def width_inches(width: str | float | None, current: float) -> float:
    """Inches for a width preset ("column", "page"), a number, or None (keep ``current``).

    Example:
        >>> width_inches("column", 5.0), width_inches(None, 5.0)
        (3.3, 5.0)
    """
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


def file_format(path: Path) -> str:
    """The matplotlib format name for ``path``'s extension, or a ValueError naming the supported ones.

    Example:
        >>> file_format(Path("fig.PDF"))
        'pdf'
    """
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"cannot write {path.name}: the extension {path.suffix or '(none)'!r} is not "
                         "supported; use .png, .pdf or .svg")
    return fmt


def file_metadata(fmt: str, info: Mapping[str, Any], extra: Mapping[str, Any] | None) -> dict:
    """File metadata for one format from the recorded provenance plus the caller's keys.

    Example:
        >>> file_metadata("png", {"model": "m", "text": "hi"}, {"Author": "me"})["Author"]
        'me'
    """
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
    fmt = file_format(path)
    if not isinstance(dpi, (int, float)) or dpi <= 0:
        raise ValueError(f"dpi={dpi!r}: give a positive number such as 300")
    w0, h0 = (float(v) for v in fig.get_size_inches())
    w = width_inches(width, w0)
    if height is not None and (not isinstance(height, (int, float)) or height <= 0):
        raise ValueError(f"height={height!r}: give a positive number of inches, or None to keep the aspect")
    h = float(height) if height is not None else h0 * w / w0
    meta = file_metadata(fmt, provenance(fig), metadata)
    try:
        if (w, h) != (w0, h0):
            fig.set_size_inches(w, h)
            relayout(fig)
        if fmt == "png":
            kwargs.setdefault("pil_kwargs", {"compress_level": PNG_COMPRESS_LEVEL})
        with mpl.rc_context(EXPORT_RC), atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=meta, **kwargs)
    finally:
        if (w, h) != (w0, h0):
            fig.set_size_inches(w0, h0)
            relayout(fig)
    return path
