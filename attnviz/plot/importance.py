"""Figures of head importance, pruning, "matters vs changed" and the training trajectory.

* :func:`importance_map` (axes-level): layers x heads map of a :class:`~attnviz.metrics.HeadImportance`.
* :func:`pruning_axes` (axes-level): task metric against the fraction of heads pruned.
* :func:`matters_vs_changed` (figure-level): importance beside change (from
  :func:`attnviz.compare`) per head, and a scatter of the two with Spearman's rho.
* :func:`trajectory_axes` / :func:`trajectory_figure`: change per layer (1 - cosine to the
  epoch-0 capture, Kovaleva et al. 2019) over the epochs of a fine-tuning run.

Example:
    >>> import numpy as np
    >>> from attnviz.metrics.importance import HeadImportance
    >>> ax = importance_map(HeadImportance(np.array([[0.2, 0.8]]), np.zeros((1, 2))))
    >>> ax.get_xlabel()
    'head'
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes

from attnviz.plot.provenance import set_provenance
from attnviz.plot.view import PlotAxesView

LABELS = {"scores": "importance", "raw": "E|dL/dxi| (unnormalised)", "loss_change": "loss increase when zeroed",
          "metric_change": "metric drop when zeroed"}


class ImportanceFigure(PlotAxesView):
    """A figure-level result: ``.figure``, ``.axes`` (colour bars left out), ``.savefig()``, ``_repr_png_``."""

    @property
    def spearman(self) -> float:
        """Spearman rho of importance vs change (:func:`matters_vs_changed`; nan for other figures)."""
        return float(getattr(self.figure, "attnviz_spearman", float("nan")))


def importance_map(importance: Any, *, ax: Axes | None = None, values: str = "scores", **kwargs: Any) -> Axes:
    """Layers x heads map of ``values`` ("scores", "raw", "loss_change", "metric_change").

    kwargs go to :func:`attnviz.plot.head_summary`.

    Example:
        >>> from attnviz.metrics.importance import HeadImportance
        >>> ax = importance_map(HeadImportance(np.array([[0.2, 0.8]]), np.zeros((1, 2))), title="x")
        >>> ax.get_title()
        'x'
    """
    from attnviz.plot.summary import head_summary

    if values not in LABELS:
        raise ValueError(f"values={values!r}: use one of {', '.join(LABELS)}")
    data = getattr(importance, values)
    if data is None:
        raise ValueError(f"{values} is only measured by method='ablation'")
    label = LABELS[values] if values != "scores" else f"importance ({importance.method})"
    options = dict(layers=importance.layers, heads=importance.heads, cbar_label=label,
                   title=f"head importance ({importance.method}, {importance.num_examples} examples)")
    if values in ("loss_change", "metric_change") or (importance.method == "ablation" and values == "scores"):
        options["center"] = 0.0
    options.update(kwargs)
    ax = head_summary(np.asarray(data, dtype=float), ax=ax, **options)
    set_provenance(ax.figure.get_figure(root=True), model=importance.model_name, view=f"head importance ({values})")
    return ax


def pruning_axes(curve: Any, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """The task metric against the fraction of heads pruned (least important first); the random
    order dashed. kwargs go to ``Axes.plot`` (the importance-order line).

    Example:
        >>> from attnviz.metrics.importance import PruningCurve
        >>> ax = pruning_axes(PruningCurve([0.0, 1.0], [0.9, 0.5], [0.2, 0.7], [0, 4], [], random_metric=[0.9, 0.5]))
        >>> [line.get_label() for line in ax.lines]
        ['by importance (gradient)', 'random order']
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.0, 3.0), layout="constrained")
    x = 100 * np.asarray(curve.fractions)
    ax.plot(x, curve.metric, marker="o", label=f"by importance ({curve.method})", **kwargs)
    if curve.random_metric is not None:
        ax.plot(x, curve.random_metric, marker=".", linestyle="--", color="0.5", label="random order")
    ax.set_xlabel("heads pruned (%)")
    ax.set_ylabel(curve.metric_name)
    ax.set_title("pruning heads, least important first")
    ax.legend(frameon=False)
    return ax


def pruning_figure(curve: Any, **kwargs: Any) -> ImportanceFigure:
    """:func:`pruning_axes` on a new figure."""
    return ImportanceFigure(pruning_axes(curve, **kwargs).figure.get_figure(root=True))


def spearman(x: Any, y: Any) -> float:
    """Spearman rank correlation of two arrays (NaN pairs dropped; NaN when undefined).

    Example:
        >>> spearman([1, 2, 3], [10, 30, 20])
        0.5
    """
    from scipy.stats import spearmanr

    a, b = np.ravel(np.asarray(x, float)), np.ravel(np.asarray(y, float))
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return float("nan")
    return float(spearmanr(a[keep], b[keep]).statistic)


def matters_vs_changed(importance: Any, comparison: Any, *, metric: str = "change",
                       figsize: tuple[float, float] | None = None) -> ImportanceFigure:
    """Importance and change side by side (layers x heads), and a scatter of change against
    importance, one point per head, with Spearman's rho in the title. Heads flagged by a seed
    baseline (``comparison.flagged``) are drawn as filled red points.

    Example:
        >>> import attnviz
        >>> from attnviz.metrics.importance import HeadImportance
        >>> from attnviz.testing import tiny_capture
        >>> a = tiny_capture("bert", "the cat sat", seed=0)
        >>> b = tiny_capture("bert", "the cat sat", seed=1)
        >>> imp = HeadImportance(np.arange(8.0).reshape(2, 4), np.zeros((2, 4)))
        >>> fig = matters_vs_changed(imp, attnviz.compare(a, b))
        >>> len(fig.axes), fig.axes[2].get_xlabel()
        (3, 'importance (gradient)')
    """
    import matplotlib.pyplot as plt

    from attnviz.plot.summary import head_summary

    change = np.asarray(comparison.metric(metric), dtype=float)
    scores = np.asarray(importance.scores, dtype=float)
    if change.shape != scores.shape:
        raise ValueError(f"importance is {scores.shape} (layers x heads) but the comparison is {change.shape}: "
                         "compare with every layer and head of the model whose importance was measured")
    fig, axes = plt.subplots(1, 3, figsize=figsize or (12.0, 3.4), layout="constrained")
    head_summary(scores, ax=axes[0], layers=importance.layers, heads=importance.heads,
                 title=f"matters: importance ({importance.method})", cbar_label="importance",
                 center=0.0 if importance.method == "ablation" else None)
    head_summary(change, ax=axes[1], layers=comparison.layers, heads=comparison.heads,
                 title=f"changed: {metric} ({comparison.names[0]} -> {comparison.names[1]})", cbar_label=metric)
    rho = spearman(scores, change)
    ax = axes[2]
    flagged = getattr(comparison, "flagged", None)
    if flagged is not None:
        f = np.asarray(flagged, bool)
        ax.scatter(scores[~f], change[~f], s=14, color="C0", alpha=0.8, label="within seed noise")
        ax.scatter(scores[f], change[f], s=18, color="C3", label="beyond seed noise")
        ax.legend(frameon=False, fontsize="small")
    else:
        ax.scatter(scores.ravel(), change.ravel(), s=14, color="C0", alpha=0.8)
    top = np.unravel_index(np.nanargmax(scores), scores.shape)
    ax.annotate(f"L{importance.layers[top[0]]} H{importance.heads[top[1]]}", (scores[top], change[top]),
                fontsize="small", xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel(f"importance ({importance.method})")
    ax.set_ylabel(metric)
    ax.set_title(f"Spearman rho = {rho:.2f} ({scores.size} heads)")
    set_provenance(fig, model=importance.model_name, view="importance vs change",
                   details=f"Spearman rho {rho:.4f}")
    setattr(fig, "attnviz_spearman", rho)  # noqa: B010  (our own attribute: Figure does not declare it)
    return ImportanceFigure(fig)


def trajectory_axes(trajectory: Any, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """One line per layer: change (1 - cosine to the epoch-0 capture) against the epoch.

    ``trajectory`` is a :class:`~attnviz.comparison.noise.Trajectory`; kwargs go to ``Axes.plot``.

    Example:
        >>> from attnviz.comparison.noise import Trajectory
        >>> ax = trajectory_axes(Trajectory([0, 1], [0, 1], np.array([[0.0, 0.0], [0.1, 0.2]])))
        >>> [line.get_label() for line in ax.lines]
        ['layer 0', 'layer 1']
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.5, 3.0), layout="constrained")
    change = np.asarray(trajectory.layer_change)
    cmap = __import__("matplotlib").colormaps["viridis"]
    n = change.shape[1]
    for i, layer in enumerate(trajectory.layers):
        ax.plot(trajectory.epochs, change[:, i], marker="o", color=cmap(i / max(n - 1, 1)), label=f"layer {layer}",
                **kwargs)
    ax.set_xticks(list(trajectory.epochs))
    ax.set_xlabel("epoch (0 = before training)")
    ax.set_ylabel("1 - cosine to epoch 0")
    ax.set_title("attention change per layer during training")
    ax.legend(frameon=False, fontsize="small", ncol=2 if n > 6 else 1)
    return ax


def trajectory_figure(trajectory: Any, **kwargs: Any) -> ImportanceFigure:
    """:func:`trajectory_axes` on a new figure."""
    return ImportanceFigure(trajectory_axes(trajectory, **kwargs).figure.get_figure(root=True))
