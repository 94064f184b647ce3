"""``image_view``: a self-contained HTML explorer of an image capture: hover a patch, see its attention.

The page shows the image as the model saw it with, over it, the attention of one query over the
patches (nearest: one flat square per patch); moving the mouse over a patch makes that patch the
query, a click pins it (and a second click unpins), buttons pick the special tokens ([CLS],
registers) as the query, and menus pick the layer and the head (or the mean of the heads); it
opens on the last layer, the mean of the heads and the first special token. Each
query's map is coloured from 0 to its own maximum (the value is printed under the image).

Same rules as the other views (:mod:`attnviz.notebook.html`): one ``<div>`` with its CSS, data and
our own JavaScript inline (``static/image.js``), the image as an inline ``data:`` URI, nothing
from the network; ``_repr_html_`` for notebooks, ``str(view)`` a standalone page, ``.save(path)``.
The maps travel as bytes (each query row scaled to its maximum, 256 levels) with the row maxima.

Example:
    >>> import attnviz, numpy as np
    >>> from attnviz.testing import tiny_model
    >>> model, processor = tiny_model("vit")
    >>> view = image_view(attnviz.extract(model, [np.zeros((32, 32, 3), "uint8")], processor=processor))
    >>> "http" in str(view), view.payload["grid"]
    (False, [4, 4])
"""
from __future__ import annotations

import base64
import functools
import importlib.resources
import io
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from attnviz.capture import Capture
from attnviz.notebook.html import HtmlView, _json_for_script, _new_id, colour_table, runtime_css
from attnviz.plot import _maps
from attnviz.plot.image import image_example

#: Longest side of the picture on the page, in CSS pixels.
SIZE = 360


class ImageView(HtmlView):
    """The page of :func:`image_view` (``_repr_html_``, ``str``, ``save(path)``).

    Attributes:
        view_id: the id of the view's root element; payload: its JSON-ready data (``grid``,
            ``patchPositions``, ``queries``, ``layers``, ``heads``, ``maps`` (base64 bytes,
            layer x head x query x patch), ``rowMax``, ``image`` (a PNG data URI)).

    Example:
        >>> ImageView.view_type
        'image'
    """

    view_type = "image"

    def __init__(self, payload: dict[str, Any], *, title: str = "") -> None:
        self.view_id = _new_id()
        self.payload = payload
        self.title = title or "attnviz image view"
        self._fragment = _fragment(self.view_id, payload)
        self._displays = 0

    def __repr__(self) -> str:
        rows, cols = self.payload["grid"]
        return (f"ImageView(id={self.view_id!r}, {rows} x {cols} patches, {len(self.payload['layers'])} layer(s), "
                f"{self.nbytes / 1e6:.2f} MB)")


def image_view(capture: Capture, *, example: int = 0, layers: Sequence[int] | None = None,
               heads: Sequence[int] | None = None, mean: bool = True, cmap: Any = None, alpha: float = 0.6,
               size: int = SIZE) -> ImageView:
    """An interactive page: hover a patch of the image to see its attention over the image.

    Args:
        capture: an image capture (``attnviz.extract(model, images, processor=...)``).
        example: index of the example.
        layers / heads: the model's layer and head numbers in the menus (default: all kept).
        mean: add "mean of heads" to the head menu (shown first).
        cmap: colour map (default viridis, as the figures); alpha: overlay opacity.
        size: the picture's longest side on the page, in CSS pixels.

    The queries are the patches and special tokens among the captured rows (all, unless the
    capture was made with ``queries=``).

    Example:
        >>> import attnviz, numpy as np
        >>> from attnviz.testing import tiny_model
        >>> model, processor = tiny_model("deit")
        >>> view = image_view(attnviz.extract(model, [np.zeros((32, 32, 3), "uint8")], processor=processor),
        ...                   heads=[0, 1])
        >>> view.payload["heads"], [s[1] for s in view.payload["specials"]]
        ([0, 1, 'mean'], ['[CLS]', '[DIST]'])
    """
    ex = image_example(capture, example)
    assert ex.patch_grid is not None and ex.patch_positions is not None
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha={alpha}: give an opacity between 0 and 1")
    if isinstance(size, bool) or not isinstance(size, int) or size < 32:
        raise ValueError(f"size={size!r}: give the picture's side in CSS pixels, an int of at least 32")
    maps = _maps.attention_of(ex, "self")
    layer_ids, lpos = _maps.layer_positions(capture, layers, "self")
    head_ids, hpos = _maps.head_positions(capture, heads)
    if not layer_ids or not head_ids:
        raise ValueError("no layer or head to show: give layers=/heads= at least one number each")
    chosen = maps[np.ix_(np.asarray(lpos, dtype=np.intp), np.asarray(hpos, dtype=np.intp))].astype(np.float64)
    if mean:
        chosen = np.concatenate([chosen, chosen.mean(axis=1, keepdims=True)], axis=1)
    queries = list(range(chosen.shape[2])) if ex.query_positions is None else list(ex.query_positions)
    patches = chosen[..., np.asarray(ex.patch_positions, dtype=np.intp)]     # (layer, head, query, patch)
    top = patches.max(axis=-1)
    levels = np.divide(patches, top[..., None], out=np.zeros_like(patches), where=top[..., None] > 0)
    encoded = np.clip(np.rint(levels * 255), 0, 255).astype(np.uint8)
    tokens = list(ex.display_tokens or ex.tokens)
    special = ex.special_mask or [False] * len(tokens)
    specials: list[list[Any]] = [[p, tokens[p]] for p in queries if special[p]]
    patch_set = {int(p) for p in ex.patch_positions}
    first = next((int(s[0]) for s in specials), next((p for p in queries if p in patch_set), queries[0]))
    image = ex.image if ex.image is not None else np.zeros((*ex.patch_grid, 3), np.uint8)
    payload = {"version": 1, "grid": [int(v) for v in ex.patch_grid],
               "patchPositions": [int(p) for p in ex.patch_positions], "queries": [int(q) for q in queries],
               "tokens": tokens, "specials": specials, "initialQuery": first,
               "layers": [int(v) for v in layer_ids], "heads": [int(v) for v in head_ids] + (["mean"] if mean else []),
               "maps": base64.b64encode(encoded.tobytes()).decode("ascii"),
               "rowMax": [float(f"{v:.6g}") for v in top.ravel()], "lut": colour_table(cmap), "alpha": float(alpha),
               "image": png_data_uri(image), "imageSize": [int(image.shape[0]), int(image.shape[1])],
               "size": int(size), "model": capture.model_name or capture.model_type}
    return ImageView(payload, title=f"attnviz image view: {capture.model_name or capture.model_type}")


def png_data_uri(image: np.ndarray) -> str:
    """A uint8 (height, width, 3) image as an inline ``data:image/png;base64,...`` URI.

    Example:
        >>> png_data_uri(np.zeros((2, 2, 3), "uint8"))[:22]
        'data:image/png;base64,'
    """
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


@functools.lru_cache(maxsize=1)
def image_js() -> str:
    """The view's JavaScript (``static/image.js``, read once).

    Example:
        >>> "attnvizViews" in image_js()
        True
    """
    return (importlib.resources.files("attnviz.notebook") / "static" / "image.js").read_text(encoding="utf-8")


def _fragment(view_id: str, payload: dict[str, Any]) -> str:
    return (
        f'<div class="attnviz-view" id="{view_id}" data-attnviz-view="image">\n'
        f"<style>{runtime_css()}</style>\n"
        '<div class="av-fallback">attnviz image view: run the cell (or trust the notebook) to show it; it needs '
        "JavaScript, and nothing from the network.</div>\n"
        f'<script type="application/json" id="{view_id}-data">{_json_for_script(payload)}</script>\n'
        f"<script>\n{image_js()}\nwindow.attnvizViews.image.mount({json.dumps(view_id)});\n</script>\n"
        "</div>"
    )
