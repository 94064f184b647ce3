"""Token relevance drawn as a coloured strip of tokens, alone or several methods side by side.

* :func:`relevance_strip`: one row of tokens coloured by a score each (Axes-level).
* :func:`side_by_side`: one strip per method over the same tokens (attention, rollout,
  relevance, ...), each row scaled to its own largest absolute value, in one figure.

Example:
    >>> ax = relevance_strip([0.1, 0.7, 0.2], ["a", "good", "film"])
    >>> [t.get_text() for t in ax.get_xticklabels()]
    ['a', 'good', 'film']
"""
from __future__ import annotations

__all__ = ["SideBySide", "relevance_strip", "side_by_side"]

from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes

from attnviz.plot.theme import DIVERGING, SEQUENTIAL
from attnviz.plot.ticks import fit_token_ticks, literal
from attnviz.plot.view import PlotAxesView


def _scores(values: Any, n: int, name: str) -> np.ndarray:
    data = np.asarray(values, dtype=np.float64).reshape(-1)
    if data.shape[0] != n:
        raise ValueError(f"{name} has {data.shape[0]} scores for {n} tokens: give one score per token")
    return data


def _draw(ax: Axes, data: np.ndarray, tokens: Sequence[str], cmap: Any, vmin: float | None, vmax: float | None,
          **kwargs: Any):
    signed = bool(np.nanmin(data) < 0) if data.size else False
    if cmap is None:
        cmap = DIVERGING if signed else SEQUENTIAL
    if signed and vmin is None and vmax is None:
        top = float(np.nanmax(np.abs(data))) or 1.0
        vmin, vmax = -top, top
    image = ax.imshow(data[None, :], aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest",
                      **kwargs)
    ax.set_yticks([])
    fit_token_ticks(ax, rows=None, cols=list(tokens))
    return image


def relevance_strip(scores: Sequence[float] | np.ndarray, tokens: Sequence[str], *, ax: Axes | None = None, cmap: Any = None,
                    vmin: float | None = None, vmax: float | None = None, cbar: bool = True,
                    title: str | None = None, **kwargs: Any) -> Axes:
    """The tokens as one strip of cells coloured by their score (a diverging map centred on 0 where
    scores are negative); returns the Axes. ``kwargs`` go to ``imshow``.

    Example:
        >>> ax = relevance_strip([-1.0, 2.0], ["bad", "good"], title="grad x attention")
        >>> ax.images[0].get_array().tolist(), ax.images[0].get_clim()
        ([[-1.0, 2.0]], (-2.0, 2.0))
    """
    import matplotlib.pyplot as plt

    tokens = [str(t) for t in tokens]
    data = _scores(scores, len(tokens), "scores")
    if ax is None:
        width = float(np.clip(0.3 * len(tokens) + 1.5, 3.0, 12.0))
        _, ax = plt.subplots(figsize=(width, 1.6), layout="constrained")
    image = _draw(ax, data, tokens, cmap, vmin, vmax, **kwargs)
    if cbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    if title:
        literal(ax.set_title(title))
    return ax


class SideBySide(PlotAxesView):
    """Strips of several methods over the same tokens: ``.figure``, ``.axes`` (one per row), ``.savefig()``.

    Example:
        >>> view = side_by_side({"a": [1.0, 0.0], "b": [0.0, 1.0]}, ["x", "y"])
        >>> isinstance(view, SideBySide), len(view.axes)
        (True, 2)
    """


def side_by_side(rows: Mapping[str, Any], tokens: Sequence[str], *, normalize: bool = True, cmap: Any = None,
                 title: str | None = None, notes: Mapping[str, str] | None = None) -> SideBySide:
    """One relevance strip per entry of ``rows`` (name -> one score per token), in one figure, the tokens
    under the last one.

    With ``normalize`` each row is divided by its largest absolute value, so methods of different
    scales share one colour scale (0..1, or -1..1 where a row is signed). ``notes`` adds a text after
    a row's name (e.g. a measured share). A value with ``.scores`` (a relevance result) gives its
    first text's scores.

    Example:
        >>> view = side_by_side({"attention": [0.5, 0.25, 0.25], "relevance": [0.1, 0.8, 0.1]},
        ...                     ["[CLS]", "good", "film"])
        >>> len(view.axes), view.axes[1].images[0].get_array().tolist()
        (2, [[0.125, 1.0, 0.125]])
    """
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("rows is empty: give at least one name -> scores entry")
    tokens = [str(t) for t in tokens]
    width = float(np.clip(0.32 * len(tokens) + 2.5, 4.0, 14.0))
    fig, axes = plt.subplots(len(rows), 1, figsize=(width, 0.55 + 0.75 * len(rows)), layout="constrained",
                             squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], rows.items(), strict=True):
        values = values.scores[0] if hasattr(values, "scores") else values
        data = _scores(values, len(tokens), name)
        if normalize:
            top = float(np.nanmax(np.abs(data))) if data.size else 0.0
            data = data / top if top > 0 else data
        lo = -1.0 if normalize and np.nanmin(data) < 0 else (0.0 if normalize else None)
        _draw(ax, data, tokens, cmap, lo, 1.0 if normalize else None)
        if ax is not axes[-1, 0]:                          # the tokens once, under the last row
            ax.set_xticks([])
        label = name + (f"\n{notes[name]}" if notes and name in notes else "")
        literal(ax.set_ylabel(label, rotation=0, ha="right", va="center"))
    if title:
        fig.suptitle(title)
    return SideBySide(fig)
