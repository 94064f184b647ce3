"""Attention in notebooks: offline HTML views, bertviz interop and a two-way explorer widget.

* :func:`head_view` / :func:`model_view`: self-contained interactive HTML views (our
  own inline JavaScript, no network), shown by the notebook, saved with ``.save(path)``.
* :func:`explorer_view`: the explorer as such a view (example / layer / head menus in the
  page): it survives closing the notebook, exports and a missing kernel.
* :func:`neuron_view`: query / key vectors of one head and their product (BERT-like,
  DistilBERT, GPT-2), from the model's weights and the captured hidden states.
* :func:`image_view`: the explorer of an image capture (hover a patch to see its attention over
  the image), a self-contained HTML view like the others.
* :func:`to_bertviz`: keyword arguments for ``bertviz.head_view`` / ``bertviz.model_view``.
* :func:`explorer`: the explorer as an anywidget widget whose selection (``w.layer``,
  ``w.head``, ``w.example``, ``w.query`` ...) is two-way with Python; a static copy shows
  where the widget cannot (reopened without its kernel, exported).

anywidget and bertviz are optional: ``pip install 'attnviz[notebook]'``.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", "the cat sat")
    >>> type(attnviz.notebook.model_view(cap)).__name__
    'ModelView'
"""
from __future__ import annotations

from attnviz.notebook.bertviz import to_bertviz
from attnviz.notebook.html import (
    ExplorerView,
    HeadView,
    HtmlView,
    ModelView,
    NeuronView,
    explorer_view,
    head_view,
    model_view,
)
from attnviz.notebook.image_view import ImageView, image_view
from attnviz.notebook.neuron import neuron_view
from attnviz.notebook.widgets import explorer

__all__ = ["Explorer", "ExplorerView", "HeadView", "HtmlView", "ImageView", "ModelView", "NeuronView", "explorer",
           "explorer_view", "head_view", "image_view", "model_view", "neuron_view", "to_bertviz"]


def __getattr__(name: str):
    if name == "Explorer":  # an anywidget.AnyWidget subclass, built when anywidget is first needed
        from attnviz.notebook import widgets

        return widgets.Explorer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
