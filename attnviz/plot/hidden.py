"""Hidden-state views: ``hidden_norms`` and ``layer_similarity``.

``hidden_states`` of a capture hold the embedding output first and then the output
of each layer: row 0 is labelled "embeddings", row l + 1 "layer l" (0-based, as
everywhere in attnviz).

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", "the cat sat")
    >>> ax = attnviz.plot.hidden_norms(cap)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['embeddings', 'layer 0', 'layer 1']
"""
from __future__ import annotations

import functools
from typing import Any

import numpy as np
from matplotlib import colors
from matplotlib.axes import Axes
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure

from attnviz.capture import Capture, Example
from attnviz.plot import _maps
from attnviz.plot.provenance import set_provenance
from attnviz.plot.resize import on_resize
from attnviz.plot.theme import DIVERGING, SEQUENTIAL
from attnviz.plot.ticks import fit_token_ticks
from attnviz.plot.view import FigureView


def hidden_norms(
    capture: Capture,
    *,
    example: int = 0,
    kind: str = "self",
    hide_special: bool = False,
    scale: str = "linear",
    **kwargs: Any,
) -> Axes:
    """Heatmap of each token's hidden-state L2 norm: rows are layers, columns tokens.

    Args:
        capture: what :func:`attnviz.extract` returned (with hidden states).
        example: index of the example.
        kind: "self" (the encoder's states for seq2seq) or "decoder".
        hide_special: drop special tokens, whose norms are often far larger.
        scale: "linear" or "log" (one huge norm, e.g. of a sink token, washes out a
            linear scale).
        kwargs: the map's style (``ax``: the Axes to draw on, a new figure when None;
            ``cmap``: colour map, viridis; ``cbar``: draw the colour bar, True; ``title``:
            axes title, "hidden-state norm"); any other keyword goes to ``Axes.imshow``.

    Example:
        >>> import attnviz, numpy as np
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat sat")
        >>> ax = hidden_norms(cap, hide_special=True)
        >>> np.allclose(ax.images[0].get_array(), np.linalg.norm(cap[0].hidden_states[:, 1:-1], axis=-1))
        True
    """
    style = _maps.pop_style(kwargs)
    ex = _maps.example_of(capture, example)
    if scale not in ("linear", "log"):
        raise ValueError(f"scale={scale!r}: use 'linear' or 'log' for hidden-state norms")
    states, tokens = _states(ex, kind, hide_special)
    norms = np.linalg.norm(states.astype(np.float64), axis=-1).astype(np.float32)
    positive = norms[norms > 0]
    norm = colors.LogNorm(vmin=float(positive.min()) if positive.size else 1e-6, vmax=float(norms.max()) or 1.0) \
        if scale == "log" else colors.Normalize(vmin=0.0, vmax=float(norms.max()) or 1.0)
    refit = functools.partial(fit_token_ticks, rows=_layer_labels(norms.shape[0]), cols=tokens)

    def label_axes(ax: Axes) -> None:
        ax.set_xlabel("token")
        refit(ax)
        on_resize(ax.figure.get_figure(root=True), refit, ax)

    ax = _maps.draw_layer_map(norms, norm, style, size=_size(norms.shape[1], norms.shape[0]), label_axes=label_axes,
                              title="hidden-state norm", cbar_label="L2 norm", **kwargs)
    set_provenance(ax.figure.get_figure(root=True), model=capture.model_name, model_type=capture.model_type,
                   example=example, text=_maps.example_text(ex), view="hidden-state norms")
    return ax


class LayerSimilarity(FigureView):
    """The figure of :func:`layer_similarity`, with the numbers it shows.

    Attributes:
        figure: the matplotlib Figure; axes: array of its two Axes (layer x layer
            matrix, then layer x token similarity to the final representation).
        matrix: (layer + 1, layer + 1) mean cosine similarity over tokens.
        to_final: (layer + 1, token) cosine similarity of each token to its last layer.
        labels: the row names ("embeddings", "layer 0", ...); tokens: the columns of ``to_final``.
        colorbar: the shared colour bar.

    Example:
        >>> from attnviz.testing import tiny_capture
        >>> sim = layer_similarity(tiny_capture("bert", "the cat"))
        >>> sim.matrix.shape, sim.axes.shape
        ((3, 3), (2,))
    """

    def __init__(self, figure: Figure, axes: np.ndarray, matrix: np.ndarray, to_final: np.ndarray,
                 labels: list[str], tokens: list[str]) -> None:
        super().__init__(figure)
        self.axes, self.matrix, self.to_final = axes, matrix, to_final
        self.labels, self.tokens = labels, tokens
        self.colorbar: Colorbar | None = None


def layer_similarity(
    capture: Capture,
    *,
    example: int = 0,
    kind: str = "self",
    hide_special: bool = False,
    cmap: Any = None,
    width: float | None = None,
    title: str | None = None,
) -> LayerSimilarity:
    """How each layer's token representations relate to the others and to the last layer.

    Left: the layer x layer cosine similarity of the token representations, averaged
    over tokens (how much one layer rewrites the previous ones). Right: each token's
    cosine similarity between its representation at each layer and at the last layer
    (where a token's final representation settles). Both share one colour scale:
    viridis from 0 to 1, or the diverging map from -1 to 1 if any value is negative.

    Args:
        capture, example: the capture (with hidden states) and the example index.
        kind: "self" (encoder) or "decoder" states; hide_special: drop special tokens.
        cmap: colour map; width: figure width in inches; title: figure title.

    Example:
        >>> import numpy as np
        >>> from attnviz.testing import tiny_capture
        >>> sim = layer_similarity(tiny_capture("bert", "the cat sat"))
        >>> bool(np.allclose(np.diag(sim.matrix), 1, atol=1e-5)), bool(np.allclose(sim.to_final[-1], 1, atol=1e-5))
        (True, True)
    """
    ex = _maps.example_of(capture, example)
    states, tokens = _states(ex, kind, hide_special)
    unit = states.astype(np.float64)
    unit /= np.maximum(np.linalg.norm(unit, axis=-1, keepdims=True), 1e-12)
    matrix = np.einsum("itd,jtd->ij", unit, unit) / unit.shape[1]
    to_final = np.einsum("itd,td->it", unit, unit[-1])
    negative = min(matrix.min(), to_final.min()) < -1e-6
    norm = colors.Normalize(-1.0, 1.0) if negative else colors.Normalize(0.0, 1.0)
    cmap = cmap or (DIVERGING if negative else SEQUENTIAL)
    labels = _layer_labels(matrix.shape[0])
    n = matrix.shape[0]
    w = width or float(np.clip(2.6 + 0.2 * len(tokens) + 1.0, 4.5, 9.0))
    fig = Figure(figsize=(w, float(np.clip(0.3 * n + 1.5, 2.4, 6.0))), layout="constrained")
    axes = np.asarray(fig.subplots(1, 2, width_ratios=[n + 2, max(len(tokens), n) + 2]))
    left = axes[0].imshow(matrix, cmap=cmap, norm=norm, interpolation="nearest", aspect="auto")
    right = axes[1].imshow(to_final, cmap=cmap, norm=norm, interpolation="nearest", aspect="auto")
    for image in (left, right):
        image.set_rasterized(True)
    axes[0].set_title("mean cosine similarity")
    axes[1].set_title("similarity to the last layer")
    axes[1].set_xlabel("token")
    sim = LayerSimilarity(fig, axes, matrix.astype(np.float32), to_final.astype(np.float32), labels, tokens)
    sim.colorbar = fig.colorbar(right, ax=list(axes), label="cosine similarity", fraction=0.05)
    if sim.colorbar.solids is not None:
        sim.colorbar.solids.set_rasterized(True)
    if title:
        fig.suptitle(title)
    _fit_similarity(sim)
    on_resize(fig, _fit_similarity, sim)
    set_provenance(fig, model=capture.model_name, model_type=capture.model_type, example=example,
                   text=_maps.example_text(ex), view="layer similarity of hidden states")
    return sim


def _fit_similarity(sim: LayerSimilarity) -> None:
    short = [s.replace("embeddings", "emb").replace("layer ", "") for s in sim.labels]
    fit_token_ticks(sim.axes[0], rows=sim.labels, cols=short)
    fit_token_ticks(sim.axes[1], rows=sim.labels, cols=sim.tokens)
    sim.axes[1].tick_params(axis="y", labelleft=False)
    sim.axes[0].tick_params(axis="x", labelrotation=0)


def _states(ex: Example, kind: str, hide_special: bool) -> tuple[np.ndarray, list[str]]:
    """(layer + 1, token, hidden) states of the encoder ("self") or decoder, and their tokens."""
    if kind not in ("self", "encoder", "decoder"):
        raise ValueError(f"kind={kind!r}: hidden states are 'self' (encoder) or 'decoder'")
    decoder = kind == "decoder"
    states = ex.decoder_hidden_states if decoder else ex.hidden_states
    if states is None:
        raise ValueError(f"this capture has no {'decoder ' if decoder else ''}hidden states: extract again with "
                         "attnviz.extract(..., hidden_states=True)" +
                         (" and decoder_texts=" if decoder else ""))
    _, tokens, mask = ex.side_tokens(kind)
    keep = [i for i in range(len(tokens)) if not (hide_special and i < len(mask) and mask[i])]
    if not keep:
        raise ValueError("hide_special=True would hide every token (all are special): use hide_special=False")
    return states[:, keep], [tokens[i] for i in keep]


def _layer_labels(n: int) -> list[str]:
    return ["embeddings"] + [f"layer {i}" for i in range(n - 1)]


def _size(n_tokens: int, n_rows: int) -> tuple[float, float]:
    """Figure size (inches) of a new hidden-norm map: wider with more tokens, taller with more layers."""
    return float(np.clip(0.2 * n_tokens + 2.0, 3.3, 9.0)), float(np.clip(0.25 * n_rows + 1.3, 2.0, 8.0))
