"""Attention over the image: overlays for vision transformers and vision-language models.

* :func:`image_attention`: one query's attention over the patches, drawn over the image as the
  model saw it (nearest upsampling, so the patches stay visible), with a colour bar.
* :func:`image_grid`: the same overlay for a layer x head grid (one Axes, two images: fast).
* :func:`image_rollout`: an attention rollout (:func:`attnviz.metrics.rollout` of an image
  example) from one query over the image.
* :func:`image_words`: a vision-language example's text, each word's attention over the image
  (small multiples with one shared colour scale).
* :func:`distance_by_layer`: a per-head statistic against depth, one dot per head (the mean attention
  distance in pixels of Dosovitskiy et al. 2021, figure 7, by default).

A query is ``"cls"`` (the [CLS] token), a token index (a position in the sequence) or a patch
``(row, col)``. A query's map over the image is ``attentions[l, h, q][patch_positions]`` reshaped to
``patch_grid`` (see :class:`attnviz.Example`); the overlay's image array is exactly that map.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> import numpy as np
    >>> model, processor = tiny_model("vit")
    >>> cap = attnviz.extract(model, [np.zeros((32, 32, 3), "uint8")], processor=processor)
    >>> ax = image_attention(cap, layer=1, head=0, title="random weights")
    >>> ax.images[1].get_array().shape
    (4, 4)
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from attnviz.capture import Capture, Example
from attnviz.plot import _maps
from attnviz.plot.provenance import set_provenance
from attnviz.plot.theme import SEQUENTIAL
from attnviz.plot.ticks import literal
from attnviz.plot.view import PlotAxesView

#: Default opacity of the attention overlay over the image.
ALPHA = 0.6
#: Pixels per patch side of the images in an image_grid (at most): enough for a cell, cheap to draw.
MAX_PATCH_PX = 8


# -- the data ----------------------------------------------------------------------------------
def image_example(capture: Any, example: int) -> Example:
    """The Example at ``example``, or a ValueError when it holds no image patches.

    Example:
        >>> image_example(Capture([Example(tokens=["a"])]), 0)
        Traceback (most recent call last):
        ...
        ValueError: example 0 holds no image patches (modality 'text'): extract from images, e.g. attnviz.extract(model, images, processor=processor)
    """
    ex = _maps.example_of(capture, example)
    if ex.patch_grid is None or ex.patch_positions is None:
        raise ValueError(f"example {example} holds no image patches (modality {ex.modality!r}): extract from "
                         "images, e.g. attnviz.extract(model, images, processor=processor)")
    return ex


def query_position(query: Any, *, tokens: Sequence[str], special_mask: Sequence[bool] | None,
                   patch_grid: tuple[int, int], patch_positions: np.ndarray) -> tuple[int, str]:
    """(sequence position, label) of a query given as ``"cls"``, a token index or a patch ``(row, col)``.

    Example:
        >>> query_position((1, 0), tokens=["[CLS]"] + [f"p{i}" for i in range(4)], special_mask=None,
        ...                patch_grid=(2, 2), patch_positions=np.arange(1, 5))
        (3, 'patch (1, 0)')
    """
    n = len(tokens)
    if isinstance(query, str):
        if query.lower() != "cls":
            raise ValueError(f"query={query!r}: use 'cls', a token index or a patch (row, col)")
        if "[CLS]" in tokens:
            return tokens.index("[CLS]"), "[CLS]"
        raise ValueError("this example has no [CLS] token (SigLIP-style models pool without one): give a patch "
                         "query=(row, col) or a token index")
    if isinstance(query, tuple):
        rows, cols = patch_grid
        if len(query) != 2 or not all(isinstance(v, (int, np.integer)) for v in query):
            raise TypeError(f"query={query!r}: a patch query is a (row, col) pair of ints")
        r, c = int(query[0]), int(query[1])
        if not (0 <= r < rows and 0 <= c < cols):
            raise ValueError(f"patch query {(r, c)} is outside the {rows} x {cols} patch grid: use rows 0 to "
                             f"{rows - 1} and columns 0 to {cols - 1}")
        return int(patch_positions[r * cols + c]), f"patch ({r}, {c})"
    if isinstance(query, bool) or not isinstance(query, (int, np.integer)):
        raise TypeError(f"query={query!r}: use 'cls', a token index (int) or a patch (row, col)")
    if not -n <= query < n:
        raise IndexError(f"query {query} is out of range: there are {n} tokens, use 0 to {n - 1}")
    position = int(query) % n
    return position, tokens[position]


def _query_row(ex: Example, query: Any) -> tuple[int, int, str]:
    """(row of ``attentions``, sequence position, label) of a query of an image example."""
    assert ex.patch_grid is not None and ex.patch_positions is not None
    position, label = query_position(query, tokens=ex.display_tokens or ex.tokens, special_mask=ex.special_mask,
                                     patch_grid=ex.patch_grid, patch_positions=ex.patch_positions)
    if ex.query_positions is None:
        return position, position, label
    if position not in ex.query_positions:
        raise ValueError(f"query {label} (position {position}) is not among the rows this capture kept "
                         f"({ex.query_positions}): extract with queries= that include {position}")
    return ex.query_positions.index(position), position, label


def patch_map(row: np.ndarray, patch_grid: tuple[int, int], patch_positions: np.ndarray) -> np.ndarray:
    """A query's attention row (or rows: ``(..., key)``) over the patches, as ``(..., rows, cols)``.

    Example:
        >>> patch_map(np.arange(5.0), (2, 2), np.arange(1, 5)).tolist()
        [[1.0, 2.0], [3.0, 4.0]]
    """
    row = np.asarray(row)
    return row[..., np.asarray(patch_positions)].reshape(*row.shape[:-1], *patch_grid)


def query_map(capture: Capture, *, example: int = 0, layer: int, head: int | str, query: Any = "cls"
              ) -> tuple[np.ndarray, int, str]:
    """(map over the patches, query position, query label) of one layer, head and query.

    ``head`` is a head number, ``"mean"`` or ``"max"`` (of the layer's kept heads).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> cap = attnviz.extract(*tiny_model("vit")[:1], [np.zeros((32, 32, 3), "uint8")],
        ...                       processor=tiny_model("vit")[1])
        >>> m, position, label = query_map(cap, layer=0, head="mean", query=(0, 1))
        >>> m.shape, position, label
        ((4, 4), 2, 'patch (0, 1)')
    """
    ex = image_example(capture, example)
    row, position, label = _query_row(ex, query)
    matrix = _maps.head_matrix(capture, ex, "self", layer, head)
    assert ex.patch_grid is not None and ex.patch_positions is not None
    return patch_map(matrix[row], ex.patch_grid, ex.patch_positions), position, label


# -- drawing -----------------------------------------------------------------------------------
def _norm(data: np.ndarray, vmin: float | None, vmax: float | None) -> Normalize:
    return _maps.norm_for(np.asarray(data, dtype=np.float64), "linear", vmin, vmax)


def draw_overlay(ax: Axes, image: np.ndarray | None, grid_map: np.ndarray, *, norm: Normalize, cmap: Any = None,
                 alpha: float = ALPHA, cbar: bool = True, cbar_label: str = "attention",
                 mark: tuple[int, int] | None = None, **kwargs: Any) -> Axes:
    """Draw ``image`` (uint8 H x W x 3) and over it ``grid_map`` (rows x cols) stretched to the image.

    The map is drawn as its own AxesImage (``ax.images[-1]``, nearest interpolation: one flat square per
    patch) with the image's extent; ``mark`` outlines one patch (the query). ``kwargs`` go to the
    map's ``imshow``.

    Example:
        >>> import matplotlib.pyplot as plt
        >>> ax = draw_overlay(plt.figure().add_subplot(), np.zeros((8, 8, 3), "uint8"), np.eye(2),
        ...                   norm=Normalize(0, 1), cbar=False)
        >>> ax.images[-1].get_array().tolist(), ax.images[-1].get_extent()
        ([[1.0, 0.0], [0.0, 1.0]], [0, 8, 8, 0])
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha={alpha}: give an opacity between 0 and 1")
    rows, cols = grid_map.shape
    if image is not None:
        height, width = image.shape[:2]
        ax.imshow(image, extent=(0, width, height, 0), interpolation="bilinear")
    else:
        height, width = rows, cols
    options = {"interpolation": "nearest", "alpha": alpha, **kwargs}
    overlay = ax.imshow(np.asarray(grid_map, dtype=np.float64), extent=(0, width, height, 0),
                        cmap=_maps.check_cmap(cmap) or SEQUENTIAL, norm=norm, **options)
    overlay.set_rasterized(True)
    if mark is not None:
        from matplotlib.patches import Rectangle

        ph, pw = height / rows, width / cols
        ax.add_patch(Rectangle((mark[1] * pw, mark[0] * ph), pw, ph, fill=False, edgecolor="white", lw=1.5))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    if cbar:
        bar = ax.figure.colorbar(overlay, ax=ax, label=cbar_label, fraction=0.046, pad=0.03)
        if bar.solids is not None:
            bar.solids.set_rasterized(True)
    return ax


def _patch_of(ex: Example, position: int) -> tuple[int, int] | None:
    """(row, col) of the patch at a sequence position, or None for a special/text token."""
    assert ex.patch_grid is not None and ex.patch_positions is not None
    hits = np.flatnonzero(np.asarray(ex.patch_positions) == position)
    return None if hits.size == 0 else divmod(int(hits[0]), ex.patch_grid[1])


def _new_axes(size: tuple[float, float]) -> Axes:
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def image_attention(capture: Capture, *, example: int = 0, layer: int, head: int | str, query: Any = "cls",
                    ax: Axes | None = None, alpha: float = ALPHA, cmap: Any = None, cbar: bool = True,
                    vmin: float | None = None, vmax: float | None = None, title: str | None = None,
                    **kwargs: Any) -> Axes:
    """One query's attention over the image patches, overlaid on the image (nearest: patches stay visible).

    Args:
        capture: an image capture (``attnviz.extract(model, images, processor=...)``).
        example: index of the example.
        layer / head: the model's layer number and head number (or ``"mean"`` / ``"max"`` of the layer).
        query: ``"cls"``, a token index (sequence position) or a patch ``(row, col)``; a patch query
            is outlined in white.
        ax: the Axes to draw on (a new figure when None).
        alpha, cmap, cbar: overlay opacity, colour map (viridis), colour bar on/off.
        vmin, vmax: limits of the colour scale (default 0 and the map's maximum).
        title: axes title (None: layer, head and query; "" for none).
        kwargs: passed to the overlay's ``Axes.imshow``.

    Returns the Axes; ``ax.images[-1].get_array()`` is the (rows, cols) map.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, processor = tiny_model("deit")
        >>> cap = attnviz.extract(model, [np.zeros((40, 40, 3), "uint8")], processor=processor)
        >>> ax = image_attention(cap, layer=0, head=1, query=(2, 3))
        >>> ax.get_title()
        'layer 0, head 1: attention of patch (2, 3)'
    """
    ex = image_example(capture, example)
    grid_map, position, label = query_map(capture, example=example, layer=layer, head=head, query=query)
    ax = ax if ax is not None else _new_axes((4.2, 3.4))
    draw_overlay(ax, ex.image, grid_map, norm=_norm(grid_map, vmin, vmax), cmap=cmap, alpha=alpha, cbar=cbar,
                 mark=_patch_of(ex, position), **kwargs)
    head_name = f"head {head}" if not isinstance(head, str) else f"{head} of heads"
    literal(ax.set_title(f"layer {layer}, {head_name}: attention of {label}" if title is None else title))
    set_provenance(ax.figure.get_figure(root=True), model=capture.model_name, model_type=capture.model_type,
                   example=example, view="attention over the image", details=f"layer {layer}, {head_name}, "
                   f"query {label}")
    return ax


class ImageGrid(PlotAxesView):
    """The figure of :func:`image_grid`: a layer x head grid of overlays in one Axes.

    Attributes:
        figure: the matplotlib Figure (not managed by pyplot); ``ax``: its one plotting Axes.
        layers / heads: the model's layer and head numbers of the rows and columns.
        maps: (layer, head, rows, cols) array of the drawn maps; ``overlay``: the AxesImage holding
            every map (a mosaic, NaN in the one-patch gaps); ``picture``: the AxesImage of the images.
        colorbar: the one colour bar; ``query``: the query's label.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, processor = tiny_model("vit")
        >>> grid = image_grid(attnviz.extract(model, [np.zeros((32, 32, 3), "uint8")], processor=processor))
        >>> grid.matrix(1, 3).shape, grid.layers, grid.heads
        ((4, 4), [0, 1], [0, 1, 2, 3])
    """

    def __init__(self, maps: np.ndarray, image: np.ndarray | None, *, layers: list[int], heads: list[int],
                 query: str, norm: Normalize, cmap: Any = None, alpha: float = ALPHA, cell: float = 1.3,
                 mark: tuple[int, int] | None = None, title: str | None = None,
                 imshow_kwargs: dict | None = None) -> None:
        n_layers, n_heads, rows, cols = maps.shape
        super().__init__(Figure(figsize=(n_heads * cell + 1.4, n_layers * cell * rows / cols + 0.6
                                         + (0.3 if title else 0)), layout="constrained"))
        self.maps, self.layers, self.heads, self.query = maps, list(layers), list(heads), query
        self.ax = self.figure.add_subplot()
        ax = self.ax
        height, width = n_layers * (rows + 1) - 1, n_heads * (cols + 1) - 1  # in patches, one-patch gaps
        extent = (0, width, height, 0)
        if image is not None:
            self.picture = ax.imshow(self._picture_mosaic(image, n_layers, n_heads, rows, cols), extent=extent,
                                     interpolation="nearest")  # resized once already (PIL, bilinear)
        mosaic = np.full((height, width), np.nan)
        for i in range(n_layers):
            for j in range(n_heads):
                mosaic[i * (rows + 1):i * (rows + 1) + rows, j * (cols + 1):j * (cols + 1) + cols] = maps[i, j]
        options = {"interpolation": "nearest", "alpha": alpha, **(imshow_kwargs or {})}
        self.overlay = ax.imshow(mosaic, extent=extent, cmap=_maps.check_cmap(cmap) or SEQUENTIAL, norm=norm,
                                 **options)
        self.overlay.set_rasterized(True)
        if mark is not None:
            from matplotlib.collections import PatchCollection
            from matplotlib.patches import Rectangle

            boxes = [Rectangle((j * (cols + 1) + mark[1], i * (rows + 1) + mark[0]), 1, 1)
                     for i in range(n_layers) for j in range(n_heads)]
            ax.add_collection(PatchCollection(boxes, facecolor="none", edgecolor="white", linewidth=1))
        ax.set_xlim(0, width)
        ax.set_ylim(height, 0)
        ax.set_yticks([i * (rows + 1) + rows / 2 for i in range(n_layers)], [f"layer {v}" for v in self.layers])
        ax.set_xticks([j * (cols + 1) + cols / 2 for j in range(n_heads)], [f"head {v}" for v in self.heads])
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        self.colorbar = self.figure.colorbar(self.overlay, ax=ax, label=f"attention of {query}", fraction=0.04,
                                             pad=0.02)
        if self.colorbar.solids is not None:
            self.colorbar.solids.set_rasterized(True)
        if title:
            literal(self.figure.suptitle(title))

    @staticmethod
    def _picture_mosaic(image: np.ndarray, n_layers: int, n_heads: int, rows: int, cols: int) -> np.ndarray:
        """The image repeated in every cell (RGBA, transparent gaps), resized to a whole number of px a patch."""
        from PIL import Image

        k = max(1, min(round(image.shape[0] / rows), MAX_PATCH_PX))
        cell = np.asarray(Image.fromarray(np.asarray(image, np.uint8)).resize((cols * k, rows * k),
                                                                              Image.Resampling.BILINEAR))
        out = np.zeros(((n_layers * (rows + 1) - 1) * k, (n_heads * (cols + 1) - 1) * k, 4), np.uint8)
        for i in range(n_layers):
            for j in range(n_heads):
                y, x = i * (rows + 1) * k, j * (cols + 1) * k
                out[y:y + rows * k, x:x + cols * k, :3] = cell
                out[y:y + rows * k, x:x + cols * k, 3] = 255
        return out

    def matrix(self, layer: int, head: int) -> np.ndarray:
        """The (rows, cols) map drawn in the cell of a model layer and head.

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_model
            >>> model, processor = tiny_model("vit")
            >>> grid = image_grid(attnviz.extract(model, [np.zeros((32, 32, 3), "uint8")], processor=processor),
            ...                   layers=[1])
            >>> grid.matrix(1, 0).shape
            (4, 4)
        """
        if layer not in self.layers or head not in self.heads:
            raise ValueError(f"layer {layer}, head {head} is not in this grid (layers {self.layers}, heads "
                             f"{self.heads}): pick one of those")
        return self.maps[self.layers.index(layer), self.heads.index(head)]


def image_grid(capture: Capture, *, example: int = 0, layers: Sequence[int] | None = None,
               heads: Sequence[int] | None = None, query: Any = "cls", alpha: float = ALPHA, cmap: Any = None,
               vmin: float | None = None, vmax: float | None = None, cell: float = 1.3, title: str | None = None,
               **kwargs: Any) -> ImageGrid:
    """A layer x head grid of one query's attention over the image (one colour scale, one Axes).

    Args:
        capture, example, query, alpha, cmap, vmin, vmax: as for :func:`image_attention`.
        layers / heads: the model's layer and head numbers (default: all kept).
        cell: width of one cell in inches.
        title: a figure title (say there when the weights are random).
        kwargs: passed to ``Axes.imshow`` of the overlay (the one call that draws every map).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, processor = tiny_model("vit")
        >>> cap = attnviz.extract(model, [np.zeros((32, 32, 3), "uint8")], processor=processor)
        >>> grid = image_grid(cap, heads=[0, 2], query=(1, 1), title="random weights")
        >>> grid.maps.shape
        (2, 2, 4, 4)
    """
    ex = image_example(capture, example)
    row, position, label = _query_row(ex, query)
    maps = _maps.attention_of(ex, "self")
    layer_ids, lpos = _maps.layer_positions(capture, layers, "self")
    head_ids, hpos = _maps.head_positions(capture, heads)
    if not layer_ids or not head_ids:
        raise ValueError("no layer or head to draw: give layers=/heads= at least one number each")
    assert ex.patch_grid is not None and ex.patch_positions is not None
    rows_ = maps[np.ix_(np.asarray(lpos, dtype=np.intp), np.asarray(hpos, dtype=np.intp))][:, :, row]
    data = patch_map(rows_, ex.patch_grid, ex.patch_positions).astype(np.float64)
    grid = ImageGrid(data, ex.image, layers=layer_ids, heads=head_ids, query=label, norm=_norm(data, vmin, vmax),
                     cmap=cmap, alpha=alpha, cell=cell, mark=_patch_of(ex, position), title=title,
                     imshow_kwargs=kwargs)
    set_provenance(grid.figure, model=capture.model_name, model_type=capture.model_type, example=example,
                   view="attention over the image, layer x head grid",
                   details=f"layers {layer_ids}, heads {head_ids}, query {label}")
    return grid


def image_rollout(result: Any, *, query: Any = "cls", ax: Axes | None = None, alpha: float = ALPHA,
                  cmap: Any = None, cbar: bool = True, vmin: float | None = None, vmax: float | None = None,
                  title: str | None = None, **kwargs: Any) -> Axes:
    """An attention rollout of an image example, from one query, over the image.

    ``result`` is a :class:`~attnviz.metrics.Rollout` of an image example (it keeps the image and the
    patch layout); ``query`` as for :func:`image_attention`. The map is ``matrix[query]`` at the patch
    positions (vit-explain shows the [CLS] row divided by its maximum: the same picture, another scale).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, processor = tiny_model("vit")
        >>> cap = attnviz.extract(model, [np.zeros((32, 32, 3), "uint8")], processor=processor)
        >>> r = attnviz.metrics.rollout(cap, head_fusion="max", discard_ratio=0.5)
        >>> ax = image_rollout(r)
        >>> ax.images[-1].get_array().shape
        (4, 4)
    """
    if getattr(result, "patch_grid", None) is None or getattr(result, "patch_positions", None) is None:
        raise ValueError("this rollout is not of an image example: compute it with attnviz.metrics.rollout on a "
                         "capture of images, or draw it with rollout_heatmap")
    position, label = query_position(query, tokens=result.tokens, special_mask=None, patch_grid=result.patch_grid,
                                     patch_positions=result.patch_positions)
    grid_map = patch_map(result.matrix[position], result.patch_grid, result.patch_positions)
    ax = ax if ax is not None else _new_axes((4.2, 3.4))
    hits = np.flatnonzero(np.asarray(result.patch_positions) == position)
    mark = None if hits.size == 0 else divmod(int(hits[0]), result.patch_grid[1])
    draw_overlay(ax, result.image, grid_map, norm=_norm(grid_map, vmin, vmax), cmap=cmap, alpha=alpha, cbar=cbar,
                 cbar_label="rollout attribution", mark=mark, **kwargs)
    layers = result.layers
    span = f"layers {layers[0]}-{layers[-1]}" if len(layers) > 1 else f"layer {layers[0]}"
    discard = getattr(result, "discard_ratio", 0.0)
    default = (f"rollout of {label}, {span}\n{result.head_fusion} of heads"
               + (f", discard {discard:g}" if discard else ""))
    literal(ax.set_title(default if title is None else title))
    set_provenance(ax.figure.get_figure(root=True), model=getattr(result, "model_name", ""),
                   view="attention rollout over the image", details=default.replace("\n", ", "))
    return ax


def word_groups(tokens: Sequence[str], positions: Sequence[int], word_ids: Sequence[int | None] | None = None
                ) -> list[list[int]]:
    """Indices into ``positions`` grouped by word, in order: consecutive tokens of one word together.

    With ``word_ids`` (a fast tokenizer's), tokens of one id; without, the raw tokens' own marks:
    a byte-level or SentencePiece token starting with "Ġ" or "▁" (or one after a token that does not end
    in a letter or digit, or one that is not a letter or digit itself) starts a word; WordPiece's
    "##" continues one; else every token is a word.

    Example:
        >>> word_groups(["Ċ", "w", "hat", "Ġis", "Ġp", "ict", "ure", "?"], range(8))
        [[0], [1, 2], [3], [4, 5, 6], [7]]
        >>> word_groups(["a", "kit", "##ten"], [0, 1, 2])
        [[0], [1, 2]]
    """
    positions = list(positions)
    raw = [tokens[p] for p in positions]
    marked = any(t.startswith(("Ġ", "▁")) for t in raw)
    pieces = any(t.startswith("##") for t in raw)
    groups: list[list[int]] = []
    for i, (p, token) in enumerate(zip(positions, raw, strict=True)):
        if not groups:
            groups.append([i])
            continue
        prev = raw[i - 1]
        if word_ids is not None:
            same = word_ids[p] is not None and word_ids[p] == word_ids[positions[i - 1]]
        elif marked:
            same = (not token.startswith(("Ġ", "▁")) and token[:1].isalnum() and prev[-1:].isalnum()
                    and not prev.endswith(("Ċ", "ĉ")) and positions[i - 1] == p - 1)  # byte-level newline, tab
        else:
            same = pieces and token.startswith("##") and positions[i - 1] == p - 1
        if same:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


class WordImages(PlotAxesView):
    """The figure of :func:`image_words`: one overlay per word of a vision-language example.

    Attributes:
        figure; ``axes``: one Axes per word (in reading order); ``words``: their labels;
        ``maps``: (word, rows, cols) maps drawn (``axes[i].images[-1]`` shows ``maps[i]``);
        ``positions``: the token positions of each word; ``colorbar``: the shared colour bar.

    Example:
        >>> WordImages.__name__
        'WordImages'
    """

    def __init__(self, maps: np.ndarray, image: np.ndarray | None, words: list[str], positions: list[list[int]], *,
                 norm: Normalize, cmap: Any, alpha: float, columns: int, cell: float, title: str | None,
                 imshow_kwargs: dict) -> None:
        n = len(words)
        cols = max(1, min(columns, n))
        rows = -(-n // cols)
        super().__init__(Figure(figsize=(cols * cell + 0.9, rows * (cell + 0.25) + (0.3 if title else 0)),
                                layout="constrained"))
        self.maps, self.words, self.positions = maps, words, positions
        axes = self.figure.subplots(rows, cols, squeeze=False)
        for i, ax in enumerate(axes.ravel()):
            if i >= n:
                ax.set_visible(False)
                continue
            draw_overlay(ax, image, maps[i], norm=norm, cmap=cmap, alpha=alpha, cbar=False, **imshow_kwargs)
            literal(ax.set_title(words[i], fontsize="small"))
        shown = [ax for ax in axes.ravel()[:n]]
        self._plot_axes = shown
        self.colorbar = self.figure.colorbar(shown[0].images[-1], ax=list(axes.ravel()), label="attention to the "
                                             "image", fraction=0.03, pad=0.02)
        if title:
            literal(self.figure.suptitle(title))

    @property
    def axes(self) -> list[Axes]:
        """One Axes per word (hidden spare cells and the colour bar left out)."""
        return list(self._plot_axes)


def image_words(capture: Capture, *, example: int = 0, layer: int, head: int | str = "mean",
                positions: Sequence[int] | None = None, words: bool = True, alpha: float = ALPHA, cmap: Any = None,
                vmin: float | None = None, vmax: float | None = None, columns: int = 6, cell: float = 1.5,
                title: str | None = None, **kwargs: Any) -> WordImages:
    """A vision-language example's text, each word's attention over the image (small multiples).

    Args:
        capture: a capture of a vision-language model (``modality == "image+text"``), given text or
            generated (``attnviz.generate``); any capture whose example has image patches works.
        example, layer, head, alpha, cmap, vmin, vmax: as for :func:`image_attention`.
        positions: the token positions to show (default: every token that is neither an image token
            nor special nor whitespace only, i.e. the words of the text).
        words: merge the tokens of one word (``Example.word_ids``, else the tokens' own word marks:
            :func:`word_groups`) by averaging their rows (the usual convention for queries, as
            :func:`attnviz.extraction.tokens.group_words`); False: one panel per token.
        columns: panels per row; cell: a panel's width in inches; title: the figure title.
        kwargs: passed to each overlay's ``Axes.imshow``.

    Example:
        >>> from attnviz.capture import Example
        >>> att = np.full((1, 1, 7, 7), 1 / 7)
        >>> ex = Example(tokens=["<s>", "<img>", "<img>", "<img>", "<img>", "a", "cat"], attentions=att,
        ...              special_mask=[True] + [False] * 6, modality="image+text", patch_grid=(2, 2),
        ...              patch_positions=np.arange(1, 5), image=np.zeros((8, 8, 3), "uint8"))
        >>> fig = image_words(Capture([ex], layers=[0], heads=[0]), layer=0, title="random weights")
        >>> fig.words, len(fig.axes)
        (['a', 'cat'], 2)
    """
    ex = image_example(capture, example)
    assert ex.patch_grid is not None and ex.patch_positions is not None
    tokens = ex.display_tokens or ex.tokens
    if positions is None:
        image_set = {int(p) for p in ex.patch_positions}
        special = ex.special_mask or [False] * len(tokens)
        blank = [not ex.tokens[p].strip("ĠĊĉ▁ \n\t") for p in range(len(tokens))]  # whitespace-only tokens
        positions = [p for p in range(len(tokens)) if p not in image_set and not special[p] and not blank[p]]
        if ex.query_positions is not None:
            positions = [p for p in positions if p in ex.query_positions]
    positions = [int(p) for p in positions]
    if not positions:
        raise ValueError("no text token to show: this example has only image and special tokens (a vision "
                         "transformer?) - use image_attention, or give positions=")
    matrix = _maps.head_matrix(capture, ex, "self", layer, head)
    rows = []
    for p in positions:
        row, _, _ = _query_row(ex, int(p))
        rows.append(matrix[row])
    per_token = patch_map(np.stack(rows), ex.patch_grid, ex.patch_positions).astype(np.float64)
    groups = word_groups(ex.tokens, positions, ex.word_ids) if words else [[i] for i in range(len(positions))]
    maps = np.stack([per_token[g].mean(axis=0) for g in groups])
    labels = ["".join(tokens[positions[i]].removeprefix("##") if k else tokens[positions[i]]
                      for k, i in enumerate(g)).strip() or repr(tokens[positions[g[0]]]) for g in groups]
    fig = WordImages(maps, ex.image, labels, [[positions[i] for i in g] for g in groups],
                     norm=_norm(maps, vmin, vmax), cmap=cmap, alpha=alpha, columns=columns, cell=cell, title=title,
                     imshow_kwargs=kwargs)
    head_name = f"head {head}" if not isinstance(head, str) else f"{head} of heads"
    set_provenance(fig.figure, model=capture.model_name, model_type=capture.model_type, example=example,
                   text=_maps.example_text(ex), view="each word's attention over the image",
                   details=f"layer {layer}, {head_name}")
    return fig


def distance_by_layer(stats: Any, *, metric: str = "pixel_distance", ax: Axes | None = None,
                      title: str | None = None, **kwargs: Any) -> Axes:
    """One dot per head of a per-head statistic against its layer (ViT paper, figure 7, by default).

    ``stats`` is a :class:`~attnviz.metrics.HeadStats` (``head_stats`` of an image capture, or
    ``dataset_stats``); ``metric`` one of its statistics (default ``"pixel_distance"``, the mean
    attention distance in pixels). Each layer's heads share an x position, spread a little so
    that equal values stay visible; kwargs go to ``Axes.scatter``.

    Example:
        >>> from attnviz.metrics import HeadStats
        >>> s = HeadStats({"pixel_distance": np.array([[4.0, 9.0], [12.0, 15.0]])}, {}, {}, layers=[0, 1],
        ...               heads=[0, 1], num_examples=1)
        >>> ax = distance_by_layer(s)
        >>> ax.collections[0].get_offsets()[:, 1].tolist()
        [4.0, 9.0, 12.0, 15.0]
    """
    values = getattr(stats, "values", None)
    if not isinstance(values, dict) or metric not in values:
        known = ", ".join(values) if isinstance(values, dict) else "none"
        raise ValueError(f"statistic {metric!r} is not in these statistics (they hold {known}): compute it with "
                         f"head_stats(capture, metrics=[{metric!r}]) on a capture of images")
    data = np.asarray(values[metric], dtype=np.float64)
    layers = list(stats.layers)
    n_heads = data.shape[1]
    spread = (np.arange(n_heads) - (n_heads - 1) / 2) * (0.3 / max(n_heads - 1, 1))
    x = (np.asarray(layers, dtype=np.float64)[:, None] + spread[None, :]).ravel()
    ax = ax if ax is not None else _new_axes((4.0, 3.0))
    options = {"s": 14, "alpha": 0.8, **kwargs}
    ax.scatter(x, data.ravel(), **options)
    ax.set_xticks(layers)
    ax.set_xlabel("layer (network depth)")
    ax.set_ylabel(_AXIS_LABELS.get(metric, metric))
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    count = getattr(stats, "num_examples", None)
    default = f"{_AXIS_LABELS.get(metric, metric)} per head" + (f" ({count} images)" if count else "")
    literal(ax.set_title(default if title is None else title))
    set_provenance(ax.figure.get_figure(root=True), model=getattr(stats, "model_name", ""),
                   view=f"{metric} against layer, one dot per head")
    return ax


_AXIS_LABELS = {"pixel_distance": "mean attention distance (pixels)", "distance": "mean attention distance (tokens)"}
