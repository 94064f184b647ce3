"""What a figure shows (model, text, view), recorded beside it for the file's metadata.

Kept outside the Figure object, weakly: the record dies with the figure.

Example:
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(); set_provenance(fig, model="m")
    >>> provenance(fig)
    {'model': 'm'}
"""
from __future__ import annotations

import weakref
from typing import Any

from matplotlib.figure import Figure

_PROVENANCE: weakref.WeakKeyDictionary[Figure, dict] = weakref.WeakKeyDictionary()


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
