"""Resize hooks: figures whose labels depend on their size register a refit with :func:`on_resize`.

:func:`~attnviz.save_figure` resizes a figure for the file and calls :func:`relayout`
before and after, so labels always fit the size they are drawn at.

Example:
    >>> from matplotlib.figure import Figure
    >>> fig = Figure(); calls = []
    >>> on_resize(fig, lambda f: calls.append(1), fig); relayout(fig); calls
    [1]
"""
from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from matplotlib.figure import Figure

_RELAYOUT: weakref.WeakKeyDictionary[Figure, list] = weakref.WeakKeyDictionary()


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
