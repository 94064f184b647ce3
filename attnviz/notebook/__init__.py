"""Attention in notebooks: offline HTML views, bertviz interop and an ipywidgets explorer.

* :func:`head_view` / :func:`model_view`: self-contained interactive HTML views (our
  own inline JavaScript, no network), shown by the notebook, saved with ``.save(path)``.
* :func:`to_bertviz`: keyword arguments for ``bertviz.head_view`` / ``bertviz.model_view``.
* :func:`explorer`: an ipywidgets panel (example, layer, head, view, hide special tokens)
  that redraws attnviz.plot figures.

ipywidgets and bertviz are optional: ``pip install 'attnviz[notebook]'``.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> cap = attnviz.extract(*tiny_model("bert"), "the cat sat")
    >>> type(attnviz.notebook.model_view(cap)).__name__
    'ModelView'
"""
from __future__ import annotations

from attnviz.notebook.bertviz import to_bertviz
from attnviz.notebook.html import HeadView, HtmlView, ModelView, head_view, model_view
from attnviz.notebook.widgets import explorer

__all__ = ["Explorer", "HeadView", "HtmlView", "ModelView", "explorer", "head_view", "model_view", "to_bertviz"]


def __getattr__(name: str):
    if name == "Explorer":  # an ipywidgets.VBox subclass, built when ipywidgets is first needed
        from attnviz.notebook import widgets

        return widgets.Explorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
