"""Self-contained interactive HTML views of attention: :func:`head_view` and :func:`model_view`.

A view is one ``<div>`` with its own CSS, its data (see :mod:`attnviz.notebook.payload`)
and our own JavaScript, all inline (the files under ``attnviz/notebook/static/``): it
works offline, in a notebook (JupyterLab, Notebook 7, VS Code, Colab) or as a saved
file, and never touches the network. Every element id carries a random suffix and the
only global is ``window.attnvizViews``, so several views on one page do not clash.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", "the cat sat on the mat")
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
from typing import Any, Mapping, Sequence

import numpy as np

from attnviz.atomic import atomic_write_text
from attnviz.capture import Capture
from attnviz.notebook.payload import PAGE_OVERHEAD, encode_kind, estimate_page_bytes, select_kinds

STATIC_FILES = ("core.js", "head.js", "model.js", "explorer.js", "neuron.js")
WARN_MB = 25.0
LONG_TOKENS = 512  # past this many keys a model or explorer view switches to its long-input mode
LONG_MB = 4.5  # in long mode, keep only the strongest keys of each row when the page would pass this
LONG_WINDOW = 128  # tokens on each side of the full-resolution window of the long-input close-up
SCALES = ("linear", "sqrt", "map")
THEMES = ("auto", "light", "dark")


class HtmlView:
    """An interactive attention view: shows itself in a notebook, prints as HTML, saves to a file.

    ``_repr_html_()`` is the fragment a notebook shows; ``str(view)`` is a standalone
    HTML document (the same fragment in a page), which ``save(path)`` writes atomically.

    Attributes:
        view_id: the unique id of the view's root element.
        payload: the JSON-ready data of the view (tokens, indices, encoded maps).

    Example:
        >>> from attnviz.testing import tiny_capture
        >>> view = model_view(tiny_capture("gpt2", "hello there"))
        >>> str(view).startswith("<!DOCTYPE html>")
        True
    """

    view_type = "view"

    def __init__(self, payload: dict[str, Any], *, title: str = "") -> None:
        self.view_id = _new_id()
        self.payload = payload
        self.title = title or f"attnviz {self.view_type} view"
        self._fragment = _fragment(self.view_id, self.view_type, payload)
        self._displays = 0

    def _repr_html_(self) -> str:
        """The fragment a notebook shows; every call after the first gets fresh element ids.

        Showing one view twice (``display(v); display(v)``) thus gives two elements that
        each mount themselves; ``view_id`` stays the id of the first display and of ``str(view)``.
        """
        self._displays += 1
        if self._displays == 1:
            return self._fragment
        return self._fragment.replace(self.view_id, _new_id())

    def __str__(self) -> str:
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title></head>\n<body style=\"margin:12px\">\n"
                f"{self._fragment}\n</body></html>\n")

    def __repr__(self) -> str:
        entries = self.payload["kinds"] if "kinds" in self.payload else self.payload["examples"][0]["kinds"]
        kinds = [k["name"] for k in entries]
        return f"{type(self).__name__}(id={self.view_id!r}, kinds={kinds}, {self.nbytes / 1e6:.2f} MB)"

    @property
    def nbytes(self) -> int:
        """Size of the standalone document in bytes (UTF-8)."""
        return len(str(self).encode("utf-8"))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the standalone HTML page to ``path`` atomically and return the path.

        Example:
            >>> import tempfile, pathlib
            >>> from attnviz.testing import tiny_capture
            >>> view = head_view(tiny_capture("bert", "hi"))
            >>> view.save(pathlib.Path(tempfile.mkdtemp()) / "v.html").suffix
            '.html'
        """
        return atomic_write_text(path, str(self))


class HeadView(HtmlView):
    """The bertviz-style view returned by :func:`head_view`.

    Example:
        >>> from attnviz.testing import tiny_capture
        >>> view = head_view(tiny_capture("bert", "the cat"))
        >>> isinstance(view, HeadView), "<script" in str(view)
        (True, True)
    """

    view_type = "head"


class ModelView(HtmlView):
    """The layer x head thumbnail view returned by :func:`model_view`.

    Example:
        >>> from attnviz.testing import tiny_capture
        >>> view = model_view(tiny_capture("bert", "the cat"))
        >>> isinstance(view, ModelView), view._repr_html_() != ""
        (True, True)
    """

    view_type = "model"


def head_view(capture: Capture, *, example: int = 0, layers: Sequence[int] | None = None,
              heads: Sequence[int] | None = None, kind: str | None = None, layer: int | None = None,
              scale: str = "linear", compress: bool = True, warn_mb: float | None = WARN_MB,
              title: str | None = None, cmap: Any = None, theme: str = "auto",
              values: Mapping[str, Any] | None = None) -> HeadView:
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
        cmap: colour map of the maps (a matplotlib name or Colormap; default: the one
            of every attnviz figure, ``attnviz.plot.theme.SEQUENTIAL``, viridis).
        theme: "auto" (follow the notebook: JupyterLab's / VS Code's dark theme, or a
            dark page background), "light" or "dark".
        values: other maps of the same tokens, ``{"name": capture_or_result}`` (a Capture, or
            anything with ``.as_capture()`` such as a relevance result): a "Values" menu in the
            page switches between the attention and these (value-norm, relevance, ...).

    For a text pair (``extract(..., text_pairs=...)``) a "Sentences" menu filters the
    lines to All, A->A, A->B, B->A or B->B. Hovering a token writes the weight beside
    every token of the other column and names the strongest one.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("t5", "the cat", head="lm", decoder_texts="le chat")
        >>> [k["name"] for k in head_view(cap).payload["kinds"]]
        ['encoder', 'decoder', 'cross']
    """
    payload = _payload(capture, example, layers, heads, kind, scale, compress, warn_mb, "head_view", cmap, theme, values)
    if layer is not None:
        first = payload["kinds"][0]["layers"]
        if layer not in first:
            raise ValueError(f"layer={layer} is not among the included layers {first}: pick one of those")
        payload["initialLayer"] = first.index(layer)
    return HeadView(payload, title=title or "")


def model_view(capture: Capture, *, example: int = 0, layers: Sequence[int] | None = None,
               heads: Sequence[int] | None = None, kind: str | None = None, scale: str = "sqrt",
               compress: bool = True, warn_mb: float | None = WARN_MB, title: str | None = None,
               cmap: Any = None, theme: str = "auto", values: Mapping[str, Any] | None = None,
               long: bool | None = None, pool: str = "max", sinks: bool = True, top_k: int | None = None,
               max_mb: float = LONG_MB) -> ModelView:
    """Thumbnails of every layer x head map, drawn on canvas; click one to enlarge it.

    The enlarged map has the tokens on its axes (queries as rows, keys as columns)
    and shows the weight under the mouse. Same options as :func:`head_view`, except
    that the colour scale starts at "sqrt", which keeps weak patterns visible on long
    inputs (switch to "linear" in the page for the plain weight).

    Long inputs (``long=True``, or automatically past ``LONG_TOKENS`` keys): the close-up is an
    overview of the whole map downsampled (``pool="max"`` or ``"mean"``, said on the page) and
    a window at full resolution that a click on the overview moves; captures made with
    ``queries=`` (the last row, a query profile) show their rows as captured; ``sinks=False``
    leaves the first key (attention sinks) out of the colour scale (a checkbox in the page);
    and when the page would pass ``max_mb`` MB it keeps the ``top_k`` strongest keys of every
    row (k chosen to fit unless given), saying on the page how much weight was dropped.

    Example:
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat sat")
        >>> view = model_view(cap, layers=[1], heads=[0, 2])
        >>> view.payload["kinds"][0]["layers"], view.payload["kinds"][0]["heads"]
        ([1], [0, 2])
    """
    payload = _payload(capture, example, layers, heads, kind, scale, compress, warn_mb, "model_view", cmap, theme, values,
                       (long, pool, sinks, top_k, max_mb))
    return ModelView(payload, title=title or "")


class ExplorerView(HtmlView):
    """The self-contained explorer returned by :func:`explorer_view`.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bert")
        >>> view = explorer_view(attnviz.extract(model, ["the cat", "a dog"], tokenizer=tok))
        >>> isinstance(view, ExplorerView), len(view.payload["examples"])
        (True, 2)
    """

    view_type = "explorer"


class NeuronView(HtmlView):
    """The view returned by :func:`attnviz.notebook.neuron_view` (q, k, q * k of one head).

    Example:
        >>> NeuronView.view_type
        'neuron'
    """

    view_type = "neuron"

    def __repr__(self) -> str:
        return f"NeuronView(id={self.view_id!r}, layer={self.payload['layer']}, head={self.payload['head']})"


def explorer_view(capture: Capture, *, examples: Sequence[int] | None = None, layers: Sequence[int] | None = None,
                  heads: Sequence[int] | None = None, kind: str | None = None, example: int | None = None,
                  layer: int | None = None, head: int | str = 0, view: str = "head", scale: str = "map",
                  compress: bool = True, warn_mb: float | None = WARN_MB, title: str | None = None,
                  cmap: Any = None, theme: str = "auto", values: Mapping[str, Any] | None = None,
                  long: bool | None = None, pool: str = "max", sinks: bool = True, top_k: int | None = None,
                  max_mb: float = LONG_MB) -> ExplorerView:
    """The explorer as one self-contained HTML view: every control runs in the page, no kernel.

    Menus for the example, the attention kind (encoder-decoders), the layer, the head
    (or the mean / max of the heads), the view ("one head" enlarged with its tokens and
    the weight under the mouse, or "every layer x head" as in :func:`model_view`), the
    colour scale, "hide special tokens" and, for text pairs, the sentence filter. The
    maps of the chosen examples travel inside the page (quantised, compressed), so it
    keeps working after the notebook is closed and reopened, in an ``nbconvert`` HTML
    export, in Voila and as a saved file. :func:`explorer` is the same explorer as a
    two-way notebook widget.

    Args:
        capture: a Capture from :func:`attnviz.extract`.
        examples: indices of the examples to include (default: all); each adds its maps
            to the page, so pass a few for long captures.
        layers / heads / kind: as in :func:`head_view`.
        example / layer / head: what is shown first (head: a model head index, "mean" or "max").
        view: "head" or "grid" first.
        scale: the colour scale first: "map" (0 to each map's maximum, as the figures), "linear" (0 to 1) or "sqrt".
        compress, warn_mb, title, cmap, theme, values: as in :func:`head_view`.
        long, pool, sinks, top_k, max_mb: the long-input mode, as in :func:`model_view`.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", ["the cat sat", "hello"])
        >>> view = explorer_view(cap, example=1, head="mean")
        >>> view.payload["initialExample"], view.payload["initialHead"]
        (1, 'mean')
    """
    _check_style(scale, theme)
    if view not in ("head", "grid"):
        raise ValueError(f"unknown view {view!r}: use 'head' or 'grid'")
    if not isinstance(capture, Capture):
        raise TypeError(f"expected an attnviz Capture, got {type(capture).__name__}: "
                        "make one with attnviz.extract(model, texts)")
    if len(capture) == 0:
        raise ValueError("this capture has no examples: extract it from at least one text")
    chosen = list(range(len(capture))) if examples is None else [int(i) for i in examples]
    if not chosen:
        raise ValueError("examples=[] selects nothing: pass at least one example index, or None for all")
    for i in chosen:
        if not -len(capture) <= i < len(capture):
            raise IndexError(f"example {i} is out of range: this capture has {len(capture)} examples (0..{len(capture) - 1})")
    chosen = [i % len(capture) for i in chosen]
    first = chosen[0] if example is None else int(example) % len(capture)
    if first not in chosen:
        raise ValueError(f"example={example} is not among examples={chosen}: add it or pick one of those")
    entries: list[dict[str, Any]] = []
    all_kinds: list[Any] = []
    value_names: list[str] = []
    gathered = []
    for i in chosen:
        kinds = select_kinds(capture, example=i, kind=kind, layers=layers, heads=heads)
        others = value_kinds(values, capture, kinds, example=i, kind=kind, layers=layers, heads=heads)
        all_kinds += kinds + [k for _, ks in others for k in ks]
        gathered.append((i, kinds, others))
    long_opts, top_k = long_mode(all_kinds, long, pool, sinks, top_k, max_mb, compress=compress)
    if top_k is None:
        _warn_size(estimate_page_bytes(all_kinds, compress=compress), all_kinds, warn_mb, "explorer_view")
    gamma = 2 if long_opts else 1  # long maps: square-root steps keep the small weights beside a sink
    for i, kinds, others in gathered:
        ex = capture[i]
        text = ex.text or " ".join(ex.display_tokens or [])
        if ex.text_pair:
            text += "  ||  " + ex.text_pair
        if long_opts and len(text) > 600:
            text = text[:600] + f"… ({len(text)} characters)"
        entries.append({"label": f"{i}: {text[:40] + ('…' if len(text) > 40 else '')}", "text": text,
                        "kinds": [encode_kind(k, compress=compress, top_k=top_k, gamma=gamma) for k in kinds]})
        if others:
            entries[-1]["values"] = [[encode_kind(k, compress=compress, top_k=top_k, gamma=gamma) for k in ks]
                                     for _, ks in others]
            value_names = ["attention"] + [name for name, _ in others]
    first_kind = all_kinds[0]  # every example has the same layers and heads
    initial_layer = 0
    if layer is not None:
        if layer not in first_kind.layers:
            raise ValueError(f"layer={layer} is not among the included layers {first_kind.layers}: pick one of those")
        initial_layer = first_kind.layers.index(layer)
    if head in ("mean", "max"):
        initial_head: Any = head
    elif isinstance(head, (int, np.integer)) and int(head) in first_kind.heads:
        initial_head = first_kind.heads.index(int(head))
    else:
        raise ValueError(f"head={head!r} is not among the included heads {first_kind.heads} (or 'mean' / 'max')")
    payload = {"version": 1, "scale": scale, "theme": theme, "lut": colour_table(cmap), "view": view,
               "model": capture.model_name or capture.model_type, "initialExample": chosen.index(first),
               "initialLayer": initial_layer, "initialHead": initial_head, "examples": entries,
               "exampleIndices": chosen}
    if value_names:
        payload["valueNames"] = value_names
    if long_opts:
        payload["long"] = long_opts
    return ExplorerView(payload, title=title or "")


def _check_style(scale: str, theme: str) -> None:
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}: use one of {', '.join(SCALES)}")
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}: use one of {', '.join(THEMES)}")


def colour_table(cmap: Any = None) -> str:
    """A colour map as the views use it: 256 RGB triples, base64 (768 bytes before encoding).

    ``None`` gives attnviz's one default colour map (``attnviz.plot.theme.SEQUENTIAL``),
    the same as every figure and the explorer.

    Example:
        >>> import base64
        >>> len(base64.b64decode(colour_table("magma")))
        768
    """
    import base64

    import matplotlib
    import numpy as np

    from attnviz.plot.theme import SEQUENTIAL

    try:
        colours = matplotlib.colormaps[cmap or SEQUENTIAL] if not callable(cmap) else cmap
    except KeyError:
        raise ValueError(f"unknown colour map {cmap!r}: use a matplotlib name such as 'viridis', "
                         "'magma' or 'Blues', or a Colormap") from None
    rgb = np.clip(np.rint(np.asarray(colours(np.linspace(0.0, 1.0, 256)))[:, :3] * 255), 0, 255)
    return base64.b64encode(rgb.astype(np.uint8).tobytes()).decode("ascii")


def _warn_size(estimate: int, kinds, warn_mb, fn) -> None:
    if warn_mb is not None and estimate > warn_mb * 1e6:
        shape = " + ".join(f"{k.name}: {k.maps.shape[0]} layers x {k.maps.shape[1]} heads x "
                           f"{k.maps.shape[2]} x {k.maps.shape[3]} tokens" for k in kinds)
        warnings.warn(
            f"this {fn} page will be about {estimate / 1e6:.0f} MB ({shape}); large pages load slowly "
            f"in notebooks: pass layers=[...] and/or heads=[...] (or kind=...) to keep fewer maps, "
            f"or warn_mb=None to silence this warning", ResourceWarning, stacklevel=4)


def _payload(capture, example, layers, heads, kind, scale, compress, warn_mb, fn, cmap=None,
             theme="auto", values=None, long_args=(False, "max", True, None, None)) -> dict[str, Any]:
    _check_style(scale, theme)
    kinds = select_kinds(capture, example=example, kind=kind, layers=layers, heads=heads)
    others = value_kinds(values, capture, kinds, example=example, kind=kind, layers=layers, heads=heads)
    everything = kinds + [k for _, ks in others for k in ks]
    long, top_k = long_mode(everything, *long_args, compress=compress)
    gamma = 2 if long else 1  # long maps: square-root steps keep the small weights beside a sink
    estimate = estimate_page_bytes(everything, compress=compress)
    if top_k is None:
        _warn_size(estimate, kinds, warn_mb, fn)
    payload = {"version": 1, "example": int(example), "scale": scale, "initialLayer": 0,
               "model": capture.model_name or capture.model_type, "theme": theme, "lut": colour_table(cmap),
               "kinds": [encode_kind(k, compress=compress, top_k=top_k, gamma=gamma) for k in kinds]}
    if long:
        payload["long"] = long
    if others:
        payload["valueNames"] = ["attention"] + [name for name, _ in others]
        payload["values"] = [[encode_kind(k, compress=compress, top_k=top_k, gamma=gamma) for k in ks]
                             for _, ks in others]
    return payload


def long_mode(kinds: Sequence[Any], long: bool | None, pool: str, sinks: bool, top_k: int | None,
              max_mb: float | None, *, compress: bool = True) -> tuple[dict[str, Any] | None, int | None]:
    """The long-input settings of a view (None when off) and the top-k keys per row to keep (None: all).

    On when ``long`` is True, or when it is None and a map has more than ``LONG_TOKENS`` keys.
    Then, when the dense page would pass ``max_mb`` MB (or ``top_k`` is given), each row
    keeps its ``top_k`` strongest keys, k chosen so the maps take about ``max_mb`` MB.

    Example:
        >>> from attnviz.notebook.payload import KindData
        >>> k = KindData("self", np.random.rand(1, 2, 1, 4000), [0], [0, 1], ["a"], ["b"] * 4000, [0], [0] * 4000)
        >>> opts, top = long_mode([k], None, "max", True, None, 0.05)
        >>> opts["pool"], 0 < top < 4000
        ('max', True)
    """
    if pool not in ("max", "mean"):
        raise ValueError(f"unknown pool {pool!r}: use 'max' or 'mean'")
    if long is None:
        long = any(k.maps.shape[-1] > LONG_TOKENS for k in kinds)
    if not long:
        return None, None
    if top_k is None and max_mb is not None and estimate_page_bytes(kinds, compress=compress) > max_mb * 1e6:
        rows = sum(int(np.prod(k.maps.shape[:3])) for k in kinds)
        labels = sum(sum(len(t) + 6 for t in k.query_tokens + k.key_tokens) for k in kinds)
        budget = max_mb * 1e6 - PAGE_OVERHEAD - labels
        top_k = max(1, int(budget / (rows * 3 * 4 / 3)))  # 2 index bytes + 1 value byte per key, base64
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k={top_k}: keep at least one key per row")
    return {"pool": pool, "sinks": bool(sinks), "window": LONG_WINDOW}, top_k


def value_kinds(values: Mapping[str, Any] | None, capture: Capture, kinds: Sequence[Any], *, example: int,
                kind: str | None, layers: Sequence[int] | None, heads: Sequence[int] | None) -> list[tuple[str, list[Any]]]:
    """The maps of ``values={"name": capture_or_result}`` for one example, checked against the attention's.

    A value is a Capture with the same tokens (for example value-norm maps, or attention
    changed in some way) or any object with ``.as_capture()`` (a relevance result); its maps
    must have the shape of the attention's for the same layers and heads.

    Example:
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("bert", "the cat")
        >>> [name for name, _ in value_kinds({"same": cap}, cap, select_kinds(cap), example=0, kind=None,
        ...                                  layers=None, heads=None)]
        ['same']
    """
    out: list[tuple[str, list[Any]]] = []
    for name, value in (values or {}).items():
        if name == "attention":
            raise ValueError('values={"attention": ...}: that name is the captured attention; pick another')
        other = value.as_capture() if hasattr(value, "as_capture") else value
        if not isinstance(other, Capture):
            raise TypeError(f"values[{name!r}] is a {type(value).__name__}: pass a Capture with the same tokens "
                            "or an object with .as_capture() (such as a relevance result)")
        if len(other) <= example or list(other[example].tokens) != list(capture[example].tokens):
            raise ValueError(f"values[{name!r}] does not have the tokens of example {example}: "
                             "build it from the same texts as the capture")
        theirs = select_kinds(other, example=example, kind=kind, layers=layers, heads=heads)
        mine = {k.name: k for k in kinds}
        for k in theirs:
            if k.name in mine and k.maps.shape != mine[k.name].maps.shape:
                raise ValueError(f"values[{name!r}] has {k.name} maps of shape {k.maps.shape}, the attention "
                                 f"{mine[k.name].maps.shape}: pass layers=/heads= that both have")
        out.append((str(name), [k for k in theirs if k.name in mine]))
    return out


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


def _new_id() -> str:
    return f"attnviz-{uuid.uuid4().hex[:12]}"


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
        f"<script>\n{runtime_js()}\nwindow.attnvizViews.mount({json.dumps(view_id)}, document.currentScript);\n</script>\n"
        "</div>"
    )
