"""The two-way explorer: an anywidget widget on the same JavaScript as :func:`explorer_view`.

``explorer(cap)`` shows the explorer of :func:`attnviz.notebook.explorer_view` (example,
attention kind, layer, head or the mean / max of the heads, "one head" or "every layer x
head", colour scale, "hide special tokens", the sentence-pair filter) and keeps its
selection in observable traits: ``w.example``, ``w.kind``, ``w.layer``, ``w.head``,
``w.query`` (the selected query token, a row of the one-head map; None for none),
``w.view``, ``w.scale``, ``w.hide_special``, ``w.pair``. A click in the page updates them;
setting them in Python updates the page. So a head chosen by looking can be used in code::

    w = attnviz.notebook.explorer(cap); w            # click a thumbnail, a row ...
    attnviz.plot.token_heatmap(cap, layer=w.layer, head=w.head)

Without a live widget (a notebook reopened with a new kernel where widget state is not
saved, an ``nbconvert`` export, a front end without the widget manager) the output falls
back to its ``text/html`` entry: the same explorer as a self-contained HTML view, at the
selection the widget had when it was displayed. It is one ES module (anywidget), so it
works in JupyterLab, Notebook 7, VS Code, Colab and marimo (``mo.ui.anywidget(w)``).

anywidget is optional: ``pip install 'attnviz[notebook]'``.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", ["the cat sat", "hello"])
    >>> w = explorer(cap, layer=1, head=2)
    >>> w.layer, w.head, w.query
    (1, 2, None)
    >>> w.layer = 0
    >>> "text/html" in w._repr_mimebundle_()[0]
    True
"""
from __future__ import annotations

import functools
import json
import uuid
from typing import Any, Sequence

from attnviz.capture import Capture
from attnviz.notebook.bertviz import NOTEBOOK_EXTRA
from attnviz.notebook.html import WARN_MB, ExplorerView, explorer_view, runtime_css, runtime_js

TWIN_UPDATE_MB = 2.0  # the static copy follows the selection while the page's data is at most this size
TRAITS = ("example", "kind", "layer", "head", "query", "view", "scale", "hide_special", "pair")

# The widget's ES module: the views' runtime (core.js ... explorer.js, as in every HTML view)
# and a render function that binds the explorer's controller to the widget's model.
_GLUE = """
const NAMES = %s;
function fromModel(model) {
  const s = {};
  for (const n of NAMES) { s[n === "hide_special" ? "hide" : n] = model.get(n); }
  return s;
}
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "attnviz-view";
  root.setAttribute("data-attnviz-view", "explorer");
  root.setAttribute("data-attnviz-widget", model.get("_twin") || "1");
  el.appendChild(root);
  window.attnvizViews.hideTwin(model.get("_twin"));
  let ctl = null;
  function push(s) {
    let dirty = false;
    for (const n of NAMES) {
      const v = s[n === "hide_special" ? "hide" : n];
      if (v !== undefined && model.get(n) !== v) { model.set(n, v); dirty = true; }
    }
    if (dirty) { model.save_changes(); }
  }
  const payload = Object.assign({}, model.get("payload"));
  window.attnvizViews.render(root, "explorer", payload, { onChange: push }).then((c) => {
    ctl = c;
    ctl.set(fromModel(model));
    push(ctl.state());
  });
  const follow = () => { if (ctl) { ctl.set(fromModel(model)); } };
  for (const n of NAMES) { model.on("change:" + n, follow); }
  return () => { for (const n of NAMES) { model.off("change:" + n, follow); } };
}
export default { render };
"""


def _anywidget():
    try:
        import anywidget
        import traitlets
    except ImportError as exc:
        raise ImportError(f"the explorer widget needs anywidget, which is not installed: {NOTEBOOK_EXTRA}") from exc
    return anywidget, traitlets


def explorer(capture: Capture, *, examples: Sequence[int] | None = None, layers: Sequence[int] | None = None,
             heads: Sequence[int] | None = None, kind: str | None = None, example: int | None = None,
             layer: int | None = None, head: int | str = 0, view: str = "head", scale: str = "map",
             compress: bool = True, warn_mb: float | None = WARN_MB, cmap: Any = None,
             theme: str = "auto") -> Any:
    """The explorer as a two-way notebook widget; its selection lives in observable traits.

    Same arguments as :func:`attnviz.notebook.explorer_view` (which builds the data it
    shows). Returns an :class:`Explorer` (an ``anywidget.AnyWidget``) with the traits
    ``example`` (capture index), ``kind`` ("self", "encoder", "decoder", "cross"),
    ``layer`` / ``head`` (model indices; head also "mean" or "max"), ``query`` (query
    token index or None), ``view`` ("head" or "grid"), ``scale``, ``hide_special`` and
    ``pair`` ("all", "AA", "AB", "BA", "BB"). Observe them with ``w.observe(fn, names=[...])``.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> w = explorer(tiny_capture("gpt2", "hello world"), view="grid")
        >>> w.view, w.kind, w.example
        ('grid', 'self', 0)
    """
    page = explorer_view(capture, examples=examples, layers=layers, heads=heads, kind=kind, example=example,
                         layer=layer, head=head, view=view, scale=scale, compress=compress, warn_mb=warn_mb,
                         cmap=cmap, theme=theme)
    return _explorer_class()(page.payload)


@functools.lru_cache(maxsize=1)
def _explorer_class() -> type:
    anywidget, traitlets = _anywidget()
    base: Any = anywidget.AnyWidget  # anywidget is optional and imported here, so the base class is dynamic

    class Explorer(base):
        """The explorer widget returned by :func:`explorer`.

        Example:
            >>> from attnviz.testing import tiny_capture
            >>> w = explorer(tiny_capture("bert", "the cat"))
            >>> w.head = "mean"; w.query = 1
            >>> w.selection()["head"], w.html().payload["initialQuery"]
            ('mean', 1)
        """

        _esm = runtime_js() + _GLUE % (list(TRAITS),)
        _css = runtime_css()
        payload = traitlets.Dict().tag(sync=True)
        example = traitlets.Int(0).tag(sync=True)
        kind = traitlets.Unicode("self").tag(sync=True)
        layer = traitlets.Int(0).tag(sync=True)
        head = traitlets.Union([traitlets.Int(), traitlets.Unicode()], default_value=0).tag(sync=True)
        query = traitlets.Int(None, allow_none=True).tag(sync=True)
        view = traitlets.Unicode("head").tag(sync=True)
        scale = traitlets.Unicode("map").tag(sync=True)
        hide_special = traitlets.Bool(False).tag(sync=True)
        pair = traitlets.Unicode("all").tag(sync=True)
        _twin = traitlets.Unicode("").tag(sync=True)  # id of the static copy shown beside the widget

        _shown = False

        def __init__(self, payload: dict[str, Any]) -> None:
            first = payload["examples"][payload["initialExample"]]["kinds"][0]
            head = payload["initialHead"]
            super().__init__(payload=payload, example=payload["exampleIndices"][payload["initialExample"]],
                             kind=first["name"], layer=first["layers"][payload["initialLayer"]],
                             head=head if head in ("mean", "max") else first["heads"][head],
                             view=payload["view"], scale=payload["scale"], _twin=f"attnviz-twin-{uuid.uuid4().hex[:12]}")

        def _entry(self, example: int | None = None) -> list[dict[str, Any]]:
            p = self.payload
            i = p["exampleIndices"].index(self.example if example is None else example)
            return p["examples"][i]["kinds"]

        def _kind_entry(self) -> dict[str, Any]:
            return next(e for e in self._entry() if e["name"] == self.kind)

        @traitlets.validate("example")
        def _valid_example(self, proposal: Any) -> int:
            value = proposal["value"]
            if value not in self.payload["exampleIndices"]:
                raise traitlets.TraitError(f"example={value} is not in this explorer: it has examples "
                                           f"{self.payload['exampleIndices']} (pass examples= to explorer())")
            return value

        @traitlets.validate("kind")
        def _valid_kind(self, proposal: Any) -> str:
            names = [e["name"] for e in self._entry()]
            if proposal["value"] not in names:
                raise traitlets.TraitError(f"kind={proposal['value']!r} is not shown: use one of {names}")
            return proposal["value"]

        @traitlets.validate("layer")
        def _valid_layer(self, proposal: Any) -> int:
            layers = self._kind_entry()["layers"]
            if proposal["value"] not in layers:
                raise traitlets.TraitError(f"layer={proposal['value']} is not shown: use one of {layers}")
            return proposal["value"]

        @traitlets.validate("head")
        def _valid_head(self, proposal: Any) -> int | str:
            heads = self._kind_entry()["heads"]
            if proposal["value"] not in ("mean", "max") and proposal["value"] not in heads:
                raise traitlets.TraitError(f"head={proposal['value']!r} is not shown: use one of {heads}, 'mean' or 'max'")
            return proposal["value"]

        @traitlets.validate("query")
        def _valid_query(self, proposal: Any) -> int | None:
            value, n = proposal["value"], len(self._kind_entry()["q"])
            if value is not None and not 0 <= value < n:
                raise traitlets.TraitError(f"query={value} is out of range: this map has {n} query tokens (0..{n - 1}) or None")
            return value

        @traitlets.validate("view", "scale", "pair")
        def _valid_choice(self, proposal: Any) -> str:
            name = proposal["trait"].name
            allowed = {"view": ("head", "grid"), "scale": ("linear", "sqrt", "map"),
                       "pair": ("all", "AA", "AB", "BA", "BB")}[name]
            if proposal["value"] not in allowed:
                raise traitlets.TraitError(f"{name}={proposal['value']!r}: use one of {', '.join(allowed)}")
            return proposal["value"]

        def selection(self) -> dict[str, Any]:
            """The traits as one dict (what the page shows now)."""
            return {name: getattr(self, name) for name in TRAITS}

        def html(self) -> ExplorerView:
            """The same explorer as a self-contained :class:`ExplorerView`, opening at the current selection."""
            p = dict(self.payload)
            entry = self._kind_entry()
            p["initialExample"] = p["exampleIndices"].index(self.example)
            p["initialLayer"] = entry["layers"].index(self.layer)
            p["initialHead"] = self.head if self.head in ("mean", "max") else entry["heads"].index(self.head)
            p["initialQuery"] = self.query
            p["initialKind"] = self.kind
            p.update(view=self.view, scale=self.scale)
            return ExplorerView(p)

        def static_bundle(self) -> dict[str, str]:
            """The widget's static copy, as the second output of its cell (see :meth:`_ipython_display_`)."""
            fragment = self.html()._repr_html_()
            twin = json.dumps(self._twin)
            return {"text/html": f'<div data-attnviz-twin="{self._twin}">{fragment}\n'
                                 f"<script>window.attnvizViews.twin({twin}, document.currentScript);</script></div>",
                    "text/plain": f"attnviz explorer (static copy): {self.selection()}"}

        def _ipython_display_(self, **kwargs: Any) -> None:
            """Two outputs: the live widget, and its static copy, which shows where the widget cannot.

            A notebook saves both: reopened without the widget's kernel, exported with
            nbconvert, or untrusted, the copy shows (and hides the front end's "model not
            found" note); while the widget is live, the copy hides itself.
            """
            from IPython.display import display

            data, metadata = super()._repr_mimebundle_(**kwargs)
            data.pop("text/plain", None)  # an export without the widget shows the copy only
            display(data, raw=True, metadata=metadata)
            display(self.static_bundle(), raw=True, display_id=self._twin)
            if not self._shown:
                self._shown = True
                self.observe(self._refresh_copy, names=list(TRAITS))

        def _refresh_copy(self, change: Any = None) -> None:
            """Keep the shown copy at the current selection (what a saved notebook keeps), for pages up to
            ``TWIN_UPDATE_MB`` (larger ones keep the selection they were shown with)."""
            from IPython.display import update_display

            if len(self.html().payload["examples"]) and self._payload_mb() <= TWIN_UPDATE_MB:
                update_display(self.static_bundle(), raw=True, display_id=self._twin)

        def _payload_mb(self) -> float:
            return sum(len(k["data"]) for e in self.payload["examples"] for k in e["kinds"]) / 1e6

        def _repr_mimebundle_(self, **kwargs: Any) -> Any:
            data, metadata = super()._repr_mimebundle_(**kwargs)
            data["text/html"] = self.html()._repr_html_()
            data["text/plain"] = f"attnviz explorer: {self.selection()}"
            return data, metadata

        def __repr__(self) -> str:
            return f"Explorer({', '.join(f'{k}={v!r}' for k, v in self.selection().items())})"

    Explorer.__module__ = __name__
    return Explorer


def __getattr__(name: str) -> Any:
    if name == "Explorer":
        return _explorer_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
