"""Figures of interventions on attention: Geva et al.'s knockout curve and a head-patching map.

* :func:`knockout_axes` (axes-level): the mean relative change (%) of the predicted token's
  (or label's) probability per window of knocked-out layers, with the texts' standard error.
* :func:`patching_map` (axes-level): layers x heads map of the recovered fraction of a
  :class:`~attnviz.metrics.HeadPatching`, drawn by :func:`attnviz.plot.head_summary`.
* :func:`bars` (axes-level): a few named numbers as labelled bars (e.g. accuracy before and
  after a knockout), the values written on the bars.

Example:
    >>> import numpy as np
    >>> from attnviz.metrics.causal import KnockoutMap
    >>> ax = knockout_axes(KnockoutMap(np.array([[-0.5, 0.0], [-0.3, 0.2]]), [[0], [1]]))
    >>> ax.lines[0].get_ydata().tolist()
    [-40.0, 10.0]
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.axes import Axes

from attnviz.plot.provenance import set_provenance
from attnviz.plot.theme import DIVERGING, SEQUENTIAL
from attnviz.plot.ticks import literal

__all__ = ["bars", "knockout_axes", "patching_map"]


def _new_axes(width: float, height: float) -> Axes:
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    return ax


def _window_label(layers: Sequence[int]) -> str:
    return str(layers[0]) if len(layers) == 1 else f"{layers[0]}-{layers[-1]}"


def knockout_axes(result: Any, *, ax: Axes | None = None, color: Any = None, title: str | None = None,
                  label: str | None = None, **kwargs: Any) -> Axes:
    """Mean relative change (%) of the prediction's probability per knocked-out window of layers.

    The band is the standard error over the texts (none for one text). kwargs go to ``Axes.plot``.

    Example:
        >>> import numpy as np
        >>> from attnviz.metrics.causal import KnockoutMap
        >>> ax = knockout_axes(KnockoutMap(np.array([[-0.2, -0.9, 0.0]]), [[0], [1], [2]]))
        >>> [t.get_text() for t in ax.get_xticklabels()]
        ['0', '1', '2']
    """
    change = 100.0 * np.asarray(result.change, dtype=float)
    x = np.arange(change.shape[1])
    mean = change.mean(0)
    if ax is None:
        ax = _new_axes(float(np.clip(0.3 * len(x) + 2.4, 3.3, 7.0)), 2.8)
    line = ax.plot(x, mean, marker="o", color=color or "C0", label=label, **kwargs)[0]
    if change.shape[0] > 1:
        sem = change.std(0, ddof=1) / np.sqrt(change.shape[0])
        ax.fill_between(x, mean - sem, mean + sem, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.axhline(0.0, color="0.6", linewidth=0.6, zorder=0)
    ax.set_xticks(x, [_window_label(w) for w in result.windows])
    ax.set_xlabel("knocked-out layer" if all(len(w) == 1 for w in result.windows) else "knocked-out layers")
    what = "label" if result.task == "classification" else "predicted token"
    ax.set_ylabel(f"% change in p({what})")
    sources = result.sources if isinstance(result.sources, str) else f"positions {list(result.sources)}"
    if title is None:
        title = f"attention knockout\ntarget -> {sources}, {len(result.change)} text(s)"
    literal(ax.set_title(title))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    set_provenance(ax.figure.get_figure(root=True), model=getattr(result, "model_name", ""),
                   view=f"attention knockout ({sources})")
    return ax


def patching_map(result: Any, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Layers x heads map of the recovered fraction of a head-patching result (0 = nothing, 1 = all).

    kwargs go to :func:`attnviz.plot.head_summary` (annotate, cmap, title, ...).

    Example:
        >>> import numpy as np
        >>> from attnviz.metrics.causal import HeadPatching
        >>> ax = patching_map(HeadPatching(np.array([[0.1, 0.9]]), np.zeros((1, 2))), title="x")
        >>> ax.get_title()
        'x'
    """
    from attnviz.plot.summary import head_summary

    values = np.asarray(result.recovered, dtype=float)
    options: dict[str, Any] = dict(cbar_label="recovered fraction", center=0.0, cmap=DIVERGING,
                                   title=f"head patching ({result.what}, {result.metric}, {result.num_pairs} pair(s))")
    if float(np.nanmin(values, initial=0.0)) >= 0:
        options.update(center=None, cmap=SEQUENTIAL, vmin=0.0, vmax=max(1.0, float(np.nanmax(values, initial=1.0))))
    options.update(kwargs)
    ax = head_summary(values, ax=ax, **options)
    set_provenance(ax.figure.get_figure(root=True), model=getattr(result, "model_name", ""),
                   view=f"head patching ({result.what})")
    return ax


def bars(values: dict[str, float], *, ax: Axes | None = None, ylabel: str = "", title: str | None = None,
         reference: float | None = None, reference_label: str = "chance", fmt: str = "{:.2f}",
         **kwargs: Any) -> Axes:
    """Named numbers as bars with their values written on them; ``reference`` draws a dashed line.

    kwargs go to ``Axes.bar``.

    Example:
        >>> ax = bars({"plain": 0.9, "knocked out": 0.1}, reference=0.05)
        >>> [round(float(p.get_height()), 2) for p in ax.patches], [t.get_text() for t in ax.texts]
        ([0.9, 0.1], ['0.90', '0.10'])
    """
    names = list(values)
    heights = [float(values[n]) for n in names]
    if ax is None:
        ax = _new_axes(float(np.clip(1.3 * len(names) + 1.2, 3.0, 8.0)), 3.0)
    colors = kwargs.pop("color", [f"C{i}" for i in range(len(names))])
    drawn = ax.bar(np.arange(len(names)), heights, color=colors, **kwargs)
    for patch, h in zip(drawn.patches, heights, strict=True):
        ax.text(patch.get_x() + patch.get_width() / 2, h, fmt.format(h), ha="center", va="bottom")
    if reference is not None:
        ax.axhline(reference, color="0.4", linestyle="--", linewidth=0.8, label=reference_label)
        ax.legend(frameon=False, loc="upper center", ncol=1)
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, max(heights + [reference or 0.0]) * (1.3 if reference is not None else 1.15) or 1.0)
    if title is not None:
        literal(ax.set_title(title))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return ax
