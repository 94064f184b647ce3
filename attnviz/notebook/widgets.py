"""The explorer: an ipywidgets panel that redraws attnviz.plot figures as its controls change.

Controls: example, attention kind (encoder-decoders only), layer, head (a number,
"mean" or "max"), view ("grid" of every layer x head, "one head", "hidden-state
norms"), colour scale and "hide special tokens". The figure is drawn with
matplotlib (off-screen, never through pyplot) as PNG bytes.

A widget needs a live kernel: reopened the next day, JupyterLab shows "model not
found" where the controls were, and an ``nbconvert`` export shows nothing. So by
default (``snapshot=True``) the picture is not inside the widget but a plain output
right below it (an image, with the title as HTML), replaced on every redraw through
``update_display``: the saved notebook keeps the last picture, with or without a
kernel, trusted or not, in exports too. For controls that keep working without a
kernel use :func:`attnviz.notebook.explorer_view`, the same explorer as a
self-contained HTML view.

ipywidgets is optional: ``pip install 'attnviz[notebook]'``.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert")
    >>> cap = attnviz.extract(model, ["the cat sat", "hello"], tokenizer=tok)
    >>> ex = explorer(cap)
    >>> ex.controls["layer"].value = 1
    >>> ex.rendered, ex.image[:4]
    (2, b'\\x89PNG')
"""
from __future__ import annotations

import base64
import functools
import html
import io
import uuid
from typing import Any

import numpy as np

from attnviz.capture import KINDS, Capture, check_kind
from attnviz.notebook.bertviz import NOTEBOOK_EXTRA
from attnviz.notebook.payload import kinds_of

VIEWS = (("one head", "head"), ("grid", "grid"), ("hidden-state norms", "norms"))
SCALES = ("linear", "log", "row")


def _widgets():
    try:
        import ipywidgets
    except ImportError as exc:
        raise ImportError(f"the explorer needs ipywidgets, which is not installed: {NOTEBOOK_EXTRA}") from exc
    return ipywidgets


def explorer(capture: Capture, *, example: int = 0, view: str = "head", dpi: int = 100, cmap: Any = None,
             snapshot: bool = True) -> Any:
    """An interactive panel over a Capture: pick example, layer, head, view; the figure follows.

    Returns an :class:`Explorer` (an ``ipywidgets.VBox``). For scripts and tests it
    exposes ``.controls`` (name -> widget: example, kind, layer, head, view, scale,
    hide_special), ``.image`` (the PNG bytes shown), ``.title`` (what they show) and
    ``.rendered`` (how many times it drew).

    Args:
        capture: a Capture from :func:`attnviz.extract` (several examples welcome).
        example: the example shown first.
        view: the view shown first: "head", "grid" or "norms".
        dpi: resolution of the drawn figures.
        cmap: colour map (default: attnviz's one default, viridis, as in every figure and view).
        snapshot: show the picture as a plain output below the controls, kept in the saved
            notebook (True), or as an ``ipywidgets.Image`` inside the panel (False; shown
            only while the kernel runs).

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2")
        >>> ex = explorer(attnviz.extract(model, "hello world", tokenizer=tok), view="grid")
        >>> ex.controls["head"].disabled
        True
    """
    if not isinstance(capture, Capture):
        raise TypeError(f"expected an attnviz Capture, got {type(capture).__name__}: "
                        "make one with attnviz.extract(model, tokenizer, texts)")
    if view not in dict((v, k) for k, v in VIEWS):
        raise ValueError(f"unknown view {view!r}: use 'head', 'grid' or 'norms'")
    if len(capture) == 0:
        raise ValueError("this capture has no examples: extract it from at least one text")
    kinds_of(capture[example], None)  # a clear error when there is no attention at all
    return _explorer_class()(capture, example=example, view=view, dpi=dpi, cmap=cmap, snapshot=snapshot)


@functools.lru_cache(maxsize=1)
def _explorer_class() -> type:
    widgets = _widgets()
    vbox: Any = widgets.VBox  # ipywidgets is optional and imported here, so the base class is dynamic

    class Explorer(vbox):
        """The explorer panel (an ``ipywidgets.VBox``); see :func:`explorer`.

        Example:
            >>> import attnviz
            >>> from attnviz.testing import tiny_model
            >>> model, tok = tiny_model("bert")
            >>> panel = explorer(attnviz.extract(model, "the cat", tokenizer=tok))
            >>> sorted(panel.controls)[:2], panel.rendered >= 1
            (['example', 'head'], True)
        """

        error: str | None  # the last drawing error (None after a good draw)
        _display_id: str | None  # the snapshot's display id once shown

        def __init__(self, capture: Capture, *, example: int, view: str, dpi: int, cmap: Any = None,
                     snapshot: bool = True) -> None:
            self.capture, self.dpi, self.rendered, self.title, self.error = capture, dpi, 0, "", None
            self.cmap, self.snapshot, self._display_id = cmap, snapshot, None
            self.controls = _controls(widgets, capture, example, view)
            self._image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
            self._label = widgets.HTML()
            top = widgets.HBox([self.controls[k] for k in ("example", "kind", "view", "scale")],
                               layout=widgets.Layout(flex_flow="row wrap"))
            second = widgets.HBox([self.controls[k] for k in ("layer", "head", "hide_special")],
                                  layout=widgets.Layout(flex_flow="row wrap"))
            super().__init__([top, second] if snapshot else [top, second, self._label, self._image])
            for name, control in self.controls.items():
                control.observe(self._changed_kind if name in ("kind", "example") else self._changed,
                                names="value")
            self._changed_kind()

        @property
        def image(self) -> bytes:
            """PNG bytes of the figure shown now."""
            return bytes(self._image.value)

        def snapshot_bundle(self) -> dict[str, str]:
            """The output that shows the current picture without a kernel: PNG, HTML and text.

            Example:
                >>> import attnviz
                >>> from attnviz.testing import tiny_model
                >>> model, tok = tiny_model("bert")
                >>> panel = explorer(attnviz.extract(model, "the cat", tokenizer=tok))
                >>> sorted(panel.snapshot_bundle())
                ['image/png', 'text/html', 'text/plain']
            """
            png = base64.b64encode(self.image).decode("ascii")
            title = html.escape(self.title)
            picture = f'<img src="data:image/png;base64,{png}" alt="{title}" style="max-width:100%">' if png else ""
            return {"text/html": f'<div class="attnviz-explorer-snapshot"><b>{title}</b><br>{picture}</div>',
                    "image/png": png, "text/plain": f"attnviz explorer: {self.title}"}

        def _ipython_display_(self, **kwargs: Any) -> None:
            from IPython.display import display

            display(self._repr_mimebundle_(**kwargs), raw=True)
            if self.snapshot:
                self._display_id = self._display_id or f"attnviz-explorer-{uuid.uuid4().hex[:12]}"
                display(self.snapshot_bundle(), raw=True, display_id=self._display_id)

        def _changed_kind(self, change: Any = None) -> None:
            c = self.controls
            kinds = kinds_of(self.capture[c["example"].value], None)
            names = [k for k in kinds if k in ("encoder", *KINDS)]
            options = [(n, n) for n in names]
            if [o[1] for o in c["kind"].options] != names:
                with self.hold_trait_notifications():
                    c["kind"].options = options
                    c["kind"].value = names[0]
            c["kind"].layout.display = None if len(names) > 1 else "none"
            layers = self.capture.kind_layers(c["kind"].value)
            if list(c["layer"].options) != layers:
                keep = c["layer"].value if c["layer"].value in layers else layers[0]
                c["layer"].unobserve(self._changed, names="value")
                c["layer"].options, c["layer"].value = layers, keep
                c["layer"].observe(self._changed, names="value")
            self._changed()

        def _changed(self, change: Any = None) -> None:
            view = self.controls["view"].value
            self.controls["layer"].disabled = view != "head"
            self.controls["head"].disabled = view != "head"
            self.render()

        def render(self) -> None:
            """Draw the figure for the current control values (called on every change)."""
            state = {name: control.value for name, control in self.controls.items()}
            try:
                png, self.title = _draw(self.capture, state, self.dpi, self.cmap)
                self.error = None
            except (ValueError, IndexError) as exc:
                png, self.title, self.error = b"", f"cannot draw this view: {exc}", str(exc)
            self._image.value = png
            self._label.value = f"<b>{html.escape(self.title)}</b>"
            self.rendered += 1
            if self._display_id is not None:
                from IPython.display import update_display

                update_display(self.snapshot_bundle(), raw=True, display_id=self._display_id)

    Explorer.__module__ = __name__
    return Explorer


def _controls(widgets: Any, capture: Capture, example: int, view: str) -> dict[str, Any]:
    style = {"description_width": "initial"}
    texts = [(f"{i}: {_short(ex.text or ' '.join(ex.display_tokens or []))}", i) for i, ex in enumerate(capture)]
    capture[example]  # raises the IndexError that names the valid range
    heads = [("mean", "mean"), ("max", "max")] + [(str(h), h) for h in (capture.heads or [])]
    return {
        "example": widgets.Dropdown(options=texts, value=int(example) % len(capture), description="example",
                                    style=style),
        "kind": widgets.Dropdown(options=[("self", "self")], description="attention", style=style),
        "view": widgets.ToggleButtons(options=list(VIEWS), value=view, description="view", style=style),
        "scale": widgets.Dropdown(options=list(SCALES), value="linear", description="scale", style=style),
        "layer": widgets.Dropdown(options=list(capture.layers), description="layer", style=style),
        "head": widgets.Dropdown(options=heads, value=heads[2][1] if len(heads) > 2 else "mean",
                                 description="head", style=style),
        "hide_special": widgets.Checkbox(value=False, description="hide special tokens", indent=False),
    }


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _draw(capture: Capture, s: dict[str, Any], dpi: int, cmap: Any = None) -> tuple[bytes, str]:
    """PNG bytes and a title for one state of the controls."""
    from matplotlib.figure import Figure

    from attnviz import plot

    ex = capture[s["example"]]
    kind = check_kind(s["kind"])
    where = f"example {s['example']}" + ("" if kind == "self" else f", {kind} attention")
    if s["view"] == "grid":
        grid = plot.head_grid(capture, example=s["example"], kind=kind, hide_special=s["hide_special"],
                              scale=s["scale"], cmap=cmap)
        return _png(grid.figure, int(dpi * 1.6)), f"{where}: every layer x head"
    states = "decoder" if kind == "decoder" else "self"
    queries, keys = ex.axis_tokens(kind if s["view"] == "head" else states)
    fig = Figure(figsize=_size(len(queries), len(keys)), layout="constrained")
    ax = fig.add_subplot()
    if s["view"] == "norms":
        plot.hidden_norms(capture, example=s["example"], kind=states, ax=ax,
                          hide_special=s["hide_special"], scale="log" if s["scale"] == "log" else "linear", cmap=cmap)
        side = "" if not ex.is_encoder_decoder else (" of the decoder" if states == "decoder" else " of the encoder")
        return _png(fig, dpi), f"example {s['example']}: hidden-state norms{side} per layer and token"
    plot.token_heatmap(capture, example=s["example"], layer=s["layer"], head=s["head"], kind=kind, ax=ax,
                       hide_special=s["hide_special"], scale=s["scale"], cmap=cmap)
    head = f"head {s['head']}" if isinstance(s["head"], (int, np.integer)) else f"{s['head']} of the heads"
    return _png(fig, dpi), f"{where}: layer {s['layer']}, {head}"


def _size(rows: int, cols: int) -> tuple[float, float]:
    return float(np.clip(0.22 * cols + 2.2, 4.0, 11.0)), float(np.clip(0.22 * rows + 1.4, 3.0, 11.0))


def _png(fig: Any, dpi: int) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def __getattr__(name: str) -> Any:
    if name == "Explorer":
        return _explorer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
