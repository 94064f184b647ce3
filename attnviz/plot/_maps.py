"""Shared preparation of the matrices the attention views draw (private).

Picks an example, an attention kind, layers and heads by the model's numbering,
drops special-token rows/columns, finds the prompt/generated boundary and scales
the values ("linear", "log", "row"), with errors that say how to fix the input.
:class:`MapStyle` and :func:`draw_layer_map` are the one home of how a layers-by-tokens
map (``hidden_norms``, ``query_profile``) is styled and drawn.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypedDict, cast

import numpy as np
from matplotlib import colors
from matplotlib.axes import Axes

from attnviz.capture import Capture, Example, check_kind  # noqa: F401  (check_kind: used by the views)
from attnviz.plot.theme import SEQUENTIAL

SCALES = ("linear", "log", "row")
REDUCTIONS = ("mean", "max")
LOG_FLOOR = 1e-4  # a log colour scale spans at most four decades below the maximum


def example_of(capture: Any, example: int) -> Example:
    """The Example at ``example``, with clear errors for a non-Capture or a bad index."""
    if not isinstance(capture, Capture):
        raise TypeError(f"expected an attnviz Capture, got {type(capture).__name__}: "
                        "make one with attnviz.extract(model, texts)")
    if not isinstance(example, (int, np.integer)) or isinstance(example, bool):
        raise TypeError(f"example={example!r}: give the example's index as an int")
    return capture[int(example)]


def check_scale(scale: str) -> str:
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r} is unknown: use 'linear', 'log' (for sink tokens) "
                         "or 'row' (each row divided by its maximum)")
    return scale


def attention_of(ex: Example, kind: str) -> np.ndarray:
    """The (layer, head, query, key) array of one kind, or a ValueError saying how to get it."""
    if kind == "self" and ex.attentions is None:
        raise ValueError("this capture has no attention maps: extract them again with attnviz.extract "
                         "(attentions are kept unless a layer/head subset was empty)")
    return ex.attention(kind)


def layer_positions(capture: Capture, layers: Sequence[int] | None, kind: str) -> tuple[list[int], list[int]]:
    """(model layer numbers, positions along axis 0) for ``layers`` (None: all kept)."""
    numbers = capture.kind_layers(kind) if layers is None else [_as_int(v, "layer") for v in _as_list(layers)]
    return numbers, [capture.layer_position(n, kind=kind) for n in numbers]


def head_positions(capture: Capture, heads: Sequence[int] | None) -> tuple[list[int], list[int]]:
    """(model head numbers, positions along axis 1) for ``heads`` (None: all kept)."""
    numbers = list(capture.heads) if heads is None else [_as_int(v, "head") for v in _as_list(heads)]
    return numbers, [capture.head_position(n) for n in numbers]


def head_matrix(capture: Capture, ex: Example, kind: str, layer: int, head: int | str) -> np.ndarray:
    """One head's (query, key) map, or the mean/max over the layer's kept heads."""
    maps = attention_of(ex, kind)
    _, (lp,) = layer_positions(capture, [layer], kind)
    if isinstance(head, str):
        if head not in REDUCTIONS:
            raise ValueError(f"head={head!r}: give a head number, 'mean' or 'max'")
        return getattr(maps[lp], head)(axis=0)
    _, (hp,) = head_positions(capture, [head])
    return maps[lp, hp]


@dataclass
class Axes2D:
    """Which rows/columns to show, their labels and the prompt boundary of each axis."""

    rows: np.ndarray
    cols: np.ndarray
    row_labels: list[str]
    col_labels: list[str]
    row_boundary: float | None
    col_boundary: float | None


def token_axes(ex: Example, kind: str, hide_special: bool) -> Axes2D:
    """Rows/columns kept for ``kind`` (special tokens dropped when asked) and boundaries."""
    axes = ex.kind_axes(kind)
    rows = _kept(axes.query_special, len(axes.query_labels), hide_special, "query")
    cols = _kept(axes.key_special, len(axes.key_labels), hide_special, "key")
    return Axes2D(rows, cols, [axes.query_labels[i] for i in rows], [axes.key_labels[i] for i in cols],
                  _boundary(rows, axes.query_prompt), _boundary(cols, axes.key_prompt))


def _kept(mask: list[bool], n: int, hide: bool, what: str) -> np.ndarray:
    keep = np.arange(n) if not hide else np.array([i for i in range(n) if not (i < len(mask) and mask[i])], int)
    if keep.size == 0:
        raise ValueError(f"hide_special=True would hide every {what} token (all are special): "
                         "use hide_special=False for this example")
    return keep


def _boundary(kept: np.ndarray, prompt_length: int | None) -> float | None:
    """Position (between two shown tokens) of the prompt/generated boundary, or None."""
    if prompt_length is None:
        return None
    before = int(np.sum(kept < prompt_length))
    return before - 0.5 if 0 < before < kept.size else None


def scaled(data: np.ndarray, scale: str) -> np.ndarray:
    """Values to draw: unchanged, or each row (last axis) divided by its maximum."""
    data = np.asarray(data, dtype=np.float32)
    if scale != "row":
        return data
    top = np.nanmax(data, axis=-1, keepdims=True)
    return np.divide(data, top, out=np.zeros_like(data), where=top > 0)


def norm_for(data: np.ndarray, scale: str, vmin: float | None = None, vmax: float | None = None) -> colors.Normalize:
    """One colour scale for ``data``: from 0 to its maximum (or LogNorm for "log")."""
    for name, value in (("vmin", vmin), ("vmax", vmax)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
                                  or not np.isfinite(value)):
            raise TypeError(f"{name}={value!r}: give a finite number (or None for the data's range)")
    if vmin is not None and vmax is not None and vmin >= vmax:
        raise ValueError(f"vmin={vmin} is not below vmax={vmax}: give vmin < vmax")
    if scale == "log" and vmin is not None and vmin <= 0:
        raise ValueError(f"vmin={vmin}: a log colour scale needs vmin above 0 (or None)")
    finite = data[np.isfinite(data)]
    top = float(finite.max()) if finite.size else 1.0
    top = vmax if vmax is not None else (top if top > 0 else 1.0)
    if scale == "log":
        positive = finite[finite > 0]
        low = float(positive.min()) if positive.size else top * LOG_FLOOR
        low = vmin if vmin is not None else max(low, top * LOG_FLOOR)
        return colors.LogNorm(vmin=low, vmax=top)
    return colors.Normalize(vmin=0.0 if vmin is None else vmin, vmax=top)


def check_cmap(cmap: Any) -> Any:
    """``cmap`` unchanged when matplotlib knows it (a name or a Colormap); else a ValueError.

    Example:
        >>> check_cmap("viridis")
        'viridis'
    """
    import matplotlib

    if cmap is None or isinstance(cmap, colors.Colormap):
        return cmap
    if isinstance(cmap, str) and cmap in matplotlib.colormaps:
        return cmap
    raise ValueError(f"cmap={cmap!r} is not a matplotlib colour map: give a name such as 'viridis' or "
                     "'magma', or a Colormap object")


class MapStyle(TypedDict, total=False):
    """The keywords of a layers-by-tokens map besides its data (``hidden_norms``, ``query_profile``).

    ``ax``: the Axes to draw on (a new figure sized to the data when None or not given);
    ``cmap``: colour map (viridis when None); ``cbar``: draw the colour bar (default True);
    ``title``: axes title (None or not given: the view's own; "" for none).

    Example:
        >>> pop_style({"cbar": False, "alpha": 0.5}) == {"cbar": False}
        True
    """

    ax: Axes | None
    cmap: Any
    cbar: bool
    title: str | None


def pop_style(kwargs: dict[str, Any]) -> MapStyle:
    """Take the :class:`MapStyle` keywords out of ``kwargs`` (what is left goes to ``Axes.imshow``)."""
    return cast(MapStyle, {key: kwargs.pop(key) for key in MapStyle.__annotations__ if key in kwargs})


def draw_layer_map(data: np.ndarray, norm: colors.Normalize, style: MapStyle, *, size: tuple[float, float],
                   label_axes: Callable[[Axes], None], title: str, cbar_label: str, **imshow: Any) -> Axes:
    """Draw a (layer x token) map as every such view does and return its Axes.

    A new constrained-layout figure of ``size`` inches unless ``style`` gives an ``ax``; the
    rasterized image (nearest, auto aspect; ``imshow`` keywords override them); the axes labelled
    by ``label_axes(ax)``; ``title`` unless ``style`` gives one; a rasterized colour bar labelled
    ``cbar_label`` unless ``style["cbar"]`` is False. A key of ``style`` that is not one of
    :class:`MapStyle` is a TypeError, as an unknown keyword argument is.

    Example:
        >>> ax = draw_layer_map(np.eye(2), colors.Normalize(0, 1), {"cbar": False}, size=(3, 2),
        ...                     label_axes=lambda ax: ax.set_ylabel("layer"), title="t", cbar_label="x")
        >>> ax.get_title(), ax.get_ylabel(), len(ax.figure.axes)
        ('t', 'layer', 1)
    """
    unknown = sorted(set(style) - set(MapStyle.__annotations__))
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}: besides its data options this map takes "
                        f"{', '.join(MapStyle.__annotations__)}")
    ax = style.get("ax")
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=size, layout="constrained")
    imshow = {"interpolation": "nearest", "aspect": "auto", **imshow}
    image = ax.imshow(data, cmap=style.get("cmap") or SEQUENTIAL, norm=norm, **imshow)
    image.set_rasterized(True)
    label_axes(ax)
    given = style.get("title")
    ax.set_title(title if given is None else given)
    if style.get("cbar", True):
        bar = ax.figure.colorbar(image, ax=ax, label=cbar_label)
        if bar.solids is not None:
            bar.solids.set_rasterized(True)
    return ax


def cbar_label(scale: str) -> str:
    return {"linear": "attention", "log": "attention (log scale)", "row": "attention / row max"}[scale]


def axis_names(kind: str) -> tuple[str, str]:
    """(y label, x label) for an attention kind."""
    return {"self": ("query", "key"), "decoder": ("decoder query", "decoder key"),
            "cross": ("decoder query", "encoder key")}[kind]


def example_text(ex: Example) -> str:
    parts = [ex.text, ex.text_pair, ex.decoder_text]
    return " || ".join(p for p in parts if p)


def _as_list(values: Any) -> list:
    if isinstance(values, (int, np.integer)):
        return [values]
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{values!r} is not a list of numbers: give ints such as layers=[0, 1] / heads=[0, 1]")
    return list(values)


def _as_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} {value!r} is not a {what} number: give ints such as {what}s=[0, 1]")
    return int(value)
