"""Self-contained interactive HTML views of attention: :func:`head_view` and :func:`model_view`.

A view is one ``<div>`` with its own CSS, its data (see :mod:`attnviz.notebook.payload`)
and our own JavaScript, all inline (the files under ``attnviz/notebook/static/``): it
works offline, in a notebook (JupyterLab, Notebook 7, VS Code, Colab) or as a saved
file, and never touches the network. Every element id carries a random suffix and the
only global is ``window.attnvizViews``, so several views on one page do not clash.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> cap = attnviz.extract(*tiny_model("bert"), "the cat sat on the mat")
    >>> view = head_view(cap)
    >>> "http" in str(view), "attnvizViews" in view._repr_html_()
    (False, True)
"""
from __future__ import annotations

import functools
import html
import importlib.resources
import json
import os
import uuid
import warnings
from pathlib import Path
from typing import Any, Sequence

from attnviz.atomic import atomic_write_text
from attnviz.capture import Capture
from attnviz.notebook.payload import encode_kind, estimate_page_bytes, select_kinds

STATIC_FILES = ("core.js", "head.js", "model.js")
WARN_MB = 25.0
SCALES = ("linear", "sqrt", "map")


class HtmlView:
    """An interactive attention view: shows itself in a notebook, prints as HTML, saves to a file.

    ``_repr_html_()`` is the fragment a notebook shows; ``str(view)`` is a standalone
    HTML document (the same fragment in a page), which ``save(path)`` writes atomically.

    Attributes:
        view_id: the unique id of the view's root element.
        payload: the JSON-ready data of the view (tokens, indices, encoded maps).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> view = model_view(attnviz.extract(*tiny_model("gpt2"), "hello there"))
        >>> str(view).startswith("<!DOCTYPE html>")
        True
    """

    view_type = "view"

    def __init__(self, payload: dict[str, Any], *, title: str = "") -> None:
        self.view_id = f"attnviz-{uuid.uuid4().hex[:12]}"
        self.payload = payload
        self.title = title or f"attnviz {self.view_type} view"
        self._fragment = _fragment(self.view_id, self.view_type, payload)

    def _repr_html_(self) -> str:
        return self._fragment

    def __str__(self) -> str:
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title></head>\n<body style=\"margin:12px\">\n"
                f"{self._fragment}\n</body></html>\n")

    def __repr__(self) -> str:
        kinds = [k["name"] for k in self.payload["kinds"]]
        return f"{type(self).__name__}(id={self.view_id!r}, kinds={kinds}, {self.nbytes / 1e6:.2f} MB)"

    @property
    def nbytes(self) -> int:
        """Size of the standalone document in bytes (UTF-8)."""
        return len(str(self).encode("utf-8"))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the standalone HTML page to ``path`` atomically and return the path.

        Example:
            >>> import tempfile, pathlib, attnviz
            >>> from attnviz.testing import tiny_model
            >>> view = head_view(attnviz.extract(*tiny_model("bert"), "hi"))
            >>> view.save(pathlib.Path(tempfile.mkdtemp()) / "v.html").suffix
            '.html'
        """
        return atomic_write_text(path, str(self))


class HeadView(HtmlView):
    """The bertviz-style view returned by :func:`head_view`.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> view = head_view(attnviz.extract(*tiny_model("bert"), "the cat"))
        >>> isinstance(view, HeadView), "<script" in str(view)
        (True, True)
    """

    view_type = "head"


class ModelView(HtmlView):
    """The layer x head thumbnail view returned by :func:`model_view`.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> view = model_view(attnviz.extract(*tiny_model("bert"), "the cat"))
        >>> isinstance(view, ModelView), view._repr_html_() != ""
        (True, True)
    """

    view_type = "model"


def head_view(capture: Capture, *, example: int = 0, layers: Sequence[int] | None = None,
              heads: Sequence[int] | None = None, kind: str | None = None, layer: int | None = None,
              scale: str = "linear", compress: bool = True, warn_mb: float | None = WARN_MB,
              title: str | None = None) -> HeadView:
    """Tokens in two columns joined by lines whose opacity is the attention weight.

    The page has a layer menu, a toggle per head (coloured as its lines), "mean of
    the selected heads", a colour scale menu and "hide special tokens"; hovering a
    token shows only its attention (left: what it attends to, right: what attends to
    it). Encoder-decoder examples get an encoder / decoder / cross menu; generated
    examples (``prompt_length`` set) mark the generated tokens and the boundary.

    Args:
        capture: a Capture from :func:`attnviz.extract`.
        example: index of the example to show.
        layers / heads: model layer / head indices to include (default: all captured);
            fewer make a smaller page.
        kind: "self"/"encoder", "decoder" or "cross" to include one kind only
            (default: every kind the example has).
        layer: the model layer shown first (default: the first included).
        scale: initial colour scale, "linear" (the weight), "sqrt" or "map" (per map max).
        compress: zlib-compress the maps (decoded by the browser); False for old browsers.
        warn_mb: warn when the estimated page is larger than this many MB (None: never).
        title: the page title.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> cap = attnviz.extract(*tiny_model("t5", head="lm"), "the cat", decoder_texts="le chat")
        >>> [k["name"] for k in head_view(cap).payload["kinds"]]
        ['encoder', 'decoder', 'cross']
    """
    payload = _payload(capture, example, layers, heads, kind, scale, compress, warn_mb, "head_view")
    if layer is not None:
        first = payload["kinds"][0]["layers"]
        if layer not in first:
            raise ValueError(f"layer={layer} is not among the included layers {first}: pick one of those")
        payload["initialLayer"] = first.index(layer)
    return HeadView(payload, title=title or "")


def model_view(capture: Capture, *, example: int = 0, layers: Sequence[int] | None = None,
               heads: Sequence[int] | None = None, kind: str | None = None, scale: str = "sqrt",
               compress: bool = True, warn_mb: float | None = WARN_MB, title: str | None = None) -> ModelView:
    """Thumbnails of every layer x head map, drawn on canvas; click one to enlarge it.

    The enlarged map has the tokens on its axes (queries as rows, keys as columns)
    and shows the weight under the mouse. Same options as :func:`head_view`, except
    that the colour scale starts at "sqrt", which keeps weak patterns visible on long
    inputs (switch to "linear" in the page for the plain weight).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> cap = attnviz.extract(*tiny_model("bert"), "the cat sat")
        >>> view = model_view(cap, layers=[1], heads=[0, 2])
        >>> view.payload["kinds"][0]["layers"], view.payload["kinds"][0]["heads"]
        ([1], [0, 2])
    """
    payload = _payload(capture, example, layers, heads, kind, scale, compress, warn_mb, "model_view")
    return ModelView(payload, title=title or "")


def _payload(capture, example, layers, heads, kind, scale, compress, warn_mb, fn) -> dict[str, Any]:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: use one of {', '.join(SCALES)}")
    kinds = select_kinds(capture, example=example, kind=kind, layers=layers, heads=heads)
    estimate = estimate_page_bytes(kinds, compress=compress)
    if warn_mb is not None and estimate > warn_mb * 1e6:
        shape = " + ".join(f"{k.name}: {k.maps.shape[0]} layers x {k.maps.shape[1]} heads x "
                           f"{k.maps.shape[2]} x {k.maps.shape[3]} tokens" for k in kinds)
        warnings.warn(
            f"this {fn} page will be about {estimate / 1e6:.0f} MB ({shape}); large pages load slowly "
            f"in notebooks: pass layers=[...] and/or heads=[...] (or kind=...) to keep fewer maps, "
            f"or warn_mb=None to silence this warning", ResourceWarning, stacklevel=3)
    return {"version": 1, "example": int(example), "scale": scale, "initialLayer": 0,
            "model": capture.model_name or capture.model_type,
            "kinds": [encode_kind(k, compress=compress) for k in kinds]}


@functools.lru_cache(maxsize=1)
def runtime_js() -> str:
    """Our JavaScript for the views (read once from the package's static files).

    Example:
        >>> "attnvizViews" in runtime_js()
        True
    """
    folder = importlib.resources.files("attnviz.notebook") / "static"
    return "\n".join((folder / name).read_text(encoding="utf-8") for name in STATIC_FILES)


@functools.lru_cache(maxsize=1)
def runtime_css() -> str:
    """Our CSS for the views, scoped to ``.attnviz-view``.

    Example:
        >>> runtime_css().count(".attnviz-view") > 3
        True
    """
    return (importlib.resources.files("attnviz.notebook") / "static" / "views.css").read_text(encoding="utf-8")


def _json_for_script(payload: dict[str, Any]) -> str:
    """JSON that is safe inside a <script> element (no "</script>" from a token like "</s>")."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _fragment(view_id: str, view_type: str, payload: dict[str, Any]) -> str:
    return (
        f'<div class="attnviz-view" id="{view_id}" data-attnviz-view="{view_type}">\n'
        f"<style>{runtime_css()}</style>\n"
        f'<div class="av-fallback">attnviz {view_type} view: run the cell (or trust the notebook) '
        "to show it; it needs JavaScript, and nothing from the network.</div>\n"
        f'<script type="application/json" id="{view_id}-data">{_json_for_script(payload)}</script>\n'
        f"<script>\n{runtime_js()}\nwindow.attnvizViews.mount({json.dumps(view_id)});\n</script>\n"
        "</div>"
    )
