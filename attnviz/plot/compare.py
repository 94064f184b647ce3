"""Figures of a :class:`~attnviz.Comparison`: what changed between two checkpoints.

* :func:`change_map` (axes-level): a layers x heads map of one statistic, drawn with
  :func:`attnviz.plot.head_summary` (diverging and centred at 0 for entropy change).
* :func:`layer_lines` (axes-level): per-layer mean cosine similarity of the attention
  maps, and of the hidden states, before vs after.
* :func:`head_difference` (figure-level): before / after / difference of one head on one
  example; the difference on a diverging map centred at 0.

``Comparison.plot(view=...)`` wraps each in a :class:`CompareFigure`.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> a = tiny_capture("bert", "the cat sat", seed=0)
    >>> b = tiny_capture("bert", "the cat sat", seed=1)
    >>> fig = head_difference(attnviz.compare(a, b), layer=1, head=2)
    >>> [ax.get_title() for ax in fig.axes]
    ['before', 'after', 'after - before']
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from attnviz.plot.provenance import set_provenance
from attnviz.plot.theme import DIVERGING, SEQUENTIAL
from attnviz.plot.ticks import literal
from attnviz.plot.view import PlotAxesView

CBAR_LABELS = {"change": "1 - cosine similarity", "cosine": "cosine similarity",
               "js": "JS divergence (nats)", "entropy_change": "entropy after - before (nats)"}


class CompareFigure(PlotAxesView):
    """A comparison figure: ``.figure``, ``.axes`` (list, colour bars left out), ``.savefig(path)``, ``_repr_png_``."""


def change_map(comparison: Any, *, metric: str = "change", ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Layers x heads map of ``metric``: "change" (1 - cosine), "cosine", "js" or "entropy_change".

    ``kwargs`` go to :func:`attnviz.plot.head_summary` (annotate, cmap, title, ...).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat")
        >>> ax = change_map(attnviz.compare(cap, cap), metric="entropy_change")
        >>> ax.images[0].get_array().shape
        (2, 4)
    """
    from attnviz.plot.summary import head_summary

    values = comparison.metric(metric)
    options = dict(layers=comparison.layers, heads=comparison.heads, cbar_label=CBAR_LABELS[metric],
                   title=f"{CBAR_LABELS[metric]}: {comparison.names[0]} -> {comparison.names[1]}")
    if metric == "entropy_change":
        options["center"] = 0.0
    elif metric == "cosine":
        options["cmap"] = SEQUENTIAL + "_r"  # dark = changed, as on the change map
    options.update(kwargs)
    ax = head_summary(values, ax=ax, **options)
    _provenance(ax.figure.get_figure(root=True), comparison, f"comparison map of {metric}")
    return ax


def layer_lines(comparison: Any, *, ax: Axes | None = None, **kwargs: Any) -> Axes:
    """Per-layer mean cosine similarity before vs after: attention maps, and hidden states.

    ``kwargs`` go to ``Axes.plot`` (both lines).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat")
        >>> ax = layer_lines(attnviz.compare(cap, cap))
        >>> [text.get_text() for text in ax.get_legend().get_texts()]
        ['attention maps', 'hidden states (layer output)']
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.0, 2.8), layout="constrained")
    layers = list(comparison.layers)
    ax.plot(layers, comparison.layer_cosine, marker="o", label="attention maps", **kwargs)
    hidden = comparison.hidden_cosine
    if hidden is not None and max(layers) + 1 < len(hidden):
        ax.plot(layers, hidden[[layer + 1 for layer in layers]], marker="s", linestyle="--",
                label="hidden states (layer output)", **kwargs)
    ax.set_xticks(layers)
    ax.set_xlabel("layer")
    ax.set_ylabel("cosine similarity, before vs after")
    low = min(float(np.nanmin(line.get_ydata())) for line in ax.lines if not str(line.get_label()).startswith("_"))
    ax.set_ylim(min(low - 0.05 * (1 - low) - 1e-3, 0.999), 1.0 + 0.05 * max(1 - low, 1e-3))
    ax.axhline(1.0, color="0.6", linewidth=0.6, zorder=0)
    literal(ax.set_title(f"{comparison.names[0]} -> {comparison.names[1]} ({comparison.num_examples} example(s))"))
    ax.legend(loc="lower left", frameon=False)
    _provenance(ax.figure.get_figure(root=True), comparison, "per-layer similarity")
    return ax


def head_difference(comparison: Any, *, layer: int, head: int, example: int = 0,
                    figsize: tuple[float, float] | None = None) -> CompareFigure:
    """Before, after and after - before of one head on one example, tokens on both axes.

    Before and after share one colour scale (0 to their maximum); the difference is on a
    diverging map centred at 0 (red: more attention after, blue: less).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat")
        >>> fig = head_difference(attnviz.compare(cap, cap), layer=0, head=1)
        >>> float(abs(fig.axes[2].images[0].get_array()).max())
        0.0
    """
    from attnviz.plot.heatmap import token_heatmap

    before, after = comparison.before, comparison.after
    ex_b, ex_a = before[example], after[example]
    lp, hp = before.layer_position(layer), before.head_position(head)
    diff = ex_a.attentions[lp, hp].astype(np.float32) - ex_b.attentions[lp, hp].astype(np.float32)
    top = _finite_max(np.concatenate([ex_b.attentions[lp, hp].ravel(), ex_a.attentions[lp, hp].ravel()]), 1.0)
    half = _finite_max(np.abs(diff), 1e-6)
    n = ex_b.num_tokens
    side = float(np.clip(0.16 * n + 1.2, 2.2, 4.5))
    fig = Figure(figsize=figsize or (3 * side + 1.2, side + 0.6), layout="constrained")
    axes = fig.subplots(1, 3)
    common: dict[str, Any] = dict(example=example, layer=layer, head=head, cbar=False)
    im_b = token_heatmap(before, ax=axes[0], vmin=0.0, vmax=top, title="before", **common).images[0]
    token_heatmap(after, ax=axes[1], vmin=0.0, vmax=top, title="after", **common)
    token_heatmap(_with_map(before, example, lp, hp, diff), ax=axes[2], cmap=DIVERGING, vmin=-half, vmax=half,
                  title="after - before", **common)
    axes[2].images[0].set_norm(Normalize(vmin=-half, vmax=half))
    for ax in axes[1:]:
        ax.set_ylabel("")
    fig.colorbar(im_b, ax=axes[:2], label="attention", shrink=0.9)
    fig.colorbar(axes[2].images[0], ax=axes[2], label="after - before", shrink=0.9)
    literal(fig.suptitle(f"layer {layer}, head {head}: {comparison.names[0]} -> {comparison.names[1]}"))
    _provenance(fig, comparison, f"before/after/difference, layer {layer}, head {head}", example=example)
    return CompareFigure(fig)


def _finite_max(values: np.ndarray, default: float) -> float:
    """The largest finite value (NaN/Inf ignored), or ``default`` when there is none above 0."""
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 0.0
    return top if top > 0 else default


def _with_map(capture: Any, example: int, lp: int, hp: int, matrix: np.ndarray) -> Any:
    """A shallow copy of ``capture`` whose example holds ``matrix`` at (layer, head)."""
    ex = capture[example]
    maps = np.zeros_like(ex.attentions, dtype=np.float32)
    maps[lp, hp] = matrix
    examples = list(capture.examples)
    examples[example] = dataclasses.replace(ex, attentions=maps, hidden_states=None)
    return dataclasses.replace(capture, examples=examples)


def _provenance(fig: Figure, comparison: Any, view: str, example: int | None = None) -> None:
    text = comparison.before[example].text if example is not None else None
    set_provenance(fig, model=f"{comparison.names[0]} vs {comparison.names[1]}",
                   model_type=comparison.before.model_type, view=view, text=text,
                   details=f"{comparison.num_examples} example(s)")


def change_figure(comparison: Any, *, metric: str = "change", **kwargs: Any) -> CompareFigure:
    """:func:`change_map` on a new figure, as a :class:`CompareFigure`.

    Example (with :func:`layers_figure`):
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "hi")
        >>> comparison = attnviz.compare(cap, cap)
        >>> change_figure(comparison).axes[0].get_xlabel(), layers_figure(comparison).axes[0].get_xlabel()
        ('head', 'layer')
    """
    return _compare_figure(change_map(comparison, metric=metric, **kwargs))


def layers_figure(comparison: Any, **kwargs: Any) -> CompareFigure:
    """:func:`layer_lines` on a new figure, as a :class:`CompareFigure` (example: :func:`change_figure`)."""
    return _compare_figure(layer_lines(comparison, **kwargs))


def _compare_figure(ax: Any) -> CompareFigure:
    """The figure of ``ax``, taken away from pyplot, as a :class:`CompareFigure`."""
    return CompareFigure(_unmanaged(ax.figure.get_figure(root=True)))


def _unmanaged(fig: Figure) -> Figure:
    """Take a figure away from pyplot: a returned figure object shows itself once in a notebook
    (through ``_repr_png_``), not a second time through the inline backend at the end of the cell."""
    import matplotlib.pyplot as plt

    plt.close(fig)
    return fig


def head_figure(comparison: Any, *, layer: int, head: int, example: int = 0, **kwargs: Any) -> CompareFigure:
    """Same as :func:`head_difference` (the name ``Comparison.plot("head")`` uses).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bert")
        >>> cap = attnviz.extract(model, "hi", tokenizer=tok)
        >>> len(head_figure(attnviz.compare(cap, cap), layer=0, head=0).axes)
        3
    """
    return head_difference(comparison, layer=layer, head=head, example=example, **kwargs)


def save_figures(comparison: Any, folder: str | os.PathLike, *, dpi: float = 200) -> list[Path]:
    """Write the change map, the entropy-change map, the per-layer lines and the most changed
    head (example 0) as PNG files into ``folder``; return the paths.

    Example:
        >>> import tempfile, attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat")
        >>> [p.name for p in save_figures(attnviz.compare(cap, cap), tempfile.mkdtemp())][:2]
        ['change_map.png', 'entropy_change_map.png']
    """
    import matplotlib.pyplot as plt

    out = Path(folder)
    top = comparison.top(1)[0]
    views = {"change_map.png": ("map", {}), "entropy_change_map.png": ("map", {"metric": "entropy_change"}),
             "layers.png": ("layers", {}),
             f"head_L{top['layer']}_H{top['head']}.png": ("head", {"layer": top["layer"], "head": top["head"]})}
    written = []
    for name, (kind, options) in views.items():
        view = comparison.plot(kind, **options)
        written.append(view.savefig(out / name, dpi=dpi))
        plt.close(view.figure)
    return written
