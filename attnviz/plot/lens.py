"""The logit-lens table: layers x positions, each cell the top token, shaded by its probability.

:func:`lens_table` draws it (its docstring has the example); ``LogitLens.plot()`` calls it.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes

from attnviz.plot.provenance import set_provenance
from attnviz.plot.resize import on_resize
from attnviz.plot.theme import SEQUENTIAL, font_points
from attnviz.plot.ticks import LITERAL, fit_ticks

MAX_LABEL = 8  # characters of a token written in a cell


def lens_table(lens: Any, *, ax: Axes | None = None, cmap: Any = None, annotate: bool = True,
               cbar: bool = True, title: str | None = None, **kwargs: Any) -> Axes:
    """Draw a :class:`~attnviz.metrics.LogitLens`: rows layers (embeddings at the bottom), columns input positions.

    Each cell shows the top-1 predicted next token at that layer and position; its
    shade is that token's probability (0 to 1), in the one default colour map of every
    attnviz figure (:data:`~attnviz.plot.theme.SEQUENTIAL`, viridis) unless ``cmap`` is
    given. Column labels are the input tokens; kwargs go to ``Axes.imshow``.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2", head="lm")
        >>> lens = attnviz.metrics.logit_lens(model, "the cat sat", tokenizer=tok)
        >>> ax = lens_table(lens)
        >>> ax.images[0].get_array().shape == (len(lens.labels), len(lens.tokens))
        True
        >>> ax.texts[0].get_text().rstrip("…") in lens.top_tokens[0][0][0]
        True
    """
    probs = np.asarray(lens.top_probs[..., 0], dtype=float)
    rows, cols = probs.shape
    if ax is None:
        import matplotlib.pyplot as plt

        width = float(np.clip(0.62 * cols + 1.8, 3.3, 12.0))
        height = float(np.clip(0.26 * rows + 1.2, 2.0, 9.0))
        _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    image = ax.imshow(probs, cmap=cmap or SEQUENTIAL, vmin=0.0, vmax=1.0, origin="lower", interpolation="nearest",
                      aspect="auto", **kwargs)
    image.set_rasterized(True)
    fig = ax.figure.get_figure(root=True)
    pos = ax.get_position()
    w_pt, h_pt = fig.get_size_inches() * 72 * (pos.width, pos.height)
    _fit_labels(ax, lens)
    on_resize(fig, lambda a: _fit_labels(a, lens), ax)
    ax.set_xlabel("input position (prediction of the next token)")
    ax.set_title(title if title is not None else "logit lens: top next-token prediction")
    if annotate:
        _write_tokens(ax, lens, probs, image, min(w_pt / cols, h_pt / rows))
    if cbar:
        bar = fig.colorbar(image, ax=ax, label="top-1 probability")
        if bar.solids is not None:
            bar.solids.set_rasterized(True)
    set_provenance(fig, model=getattr(lens, "model_name", ""), text=getattr(lens, "text", ""), view="logit lens")
    return ax


def _fit_labels(ax: Axes, lens: Any) -> None:
    """Input tokens and layer names at a size that fits (refitted when save_figure resizes)."""
    fig = ax.figure.get_figure(root=True)
    pos = ax.get_position()
    w_pt, h_pt = fig.get_size_inches() * 72 * (pos.width, pos.height)
    fit_ticks(ax.xaxis, range(len(lens.tokens)), list(lens.tokens), w_pt, base=font_points("xtick.labelsize"))
    fit_ticks(ax.yaxis, range(len(lens.labels)), list(lens.labels), h_pt, base=font_points("ytick.labelsize"))
    ax.tick_params(axis="x", labelrotation=90)


def _write_tokens(ax: Axes, lens: Any, probs: np.ndarray, image: Any, cell_pt: float) -> None:
    rgba = image.cmap(image.norm(probs))
    light = (0.2126 * rgba[..., 0] + 0.7152 * rgba[..., 1] + 0.0722 * rgba[..., 2]) > 0.5
    size = float(np.clip(cell_pt * 0.3, 3.5, font_points("font.size")))
    for (i, j), _ in np.ndenumerate(probs):
        token = lens.top_tokens[i][j][0]
        text = token if len(token) <= MAX_LABEL else token[:MAX_LABEL - 1] + "…"
        ax.text(j, i, text, ha="center", va="center", fontsize=size,
                color="black" if light[i, j] else "white", **LITERAL)
