"""Attention weights that stay in the autograd graph: the ``"attnviz"`` function's differentiable mode.

Gradient-based relevance (Chefer et al. 2021) needs each kept layer's weights *and* their
gradient with respect to the model's output, so the layer's output must be computed from those
very weights. A :class:`GradientSession`, made active like a streaming :class:`~.streaming.Session`,
asks the registered attention function to run every kept layer with the model family's own eager
function over all rows at once (GQA, masks, sliding windows, T5's bias and soft-capping as in eager
attention): the returned output is ``weights @ value``, and the session keeps the weights tensor
(batch, head, query, key) and the value states (batch, key-value head, key, head dim) of each kept
layer, in the graph, for ``torch.autograd.grad``. Layers not kept run as sdpa, as always.

Example:
    >>> import torch
    >>> from attnviz.testing import tiny_model
    >>> from attnviz.modeling import inspection_mode
    >>> from attnviz.extraction.streaming import NAME
    >>> model, tok = tiny_model("gpt2")
    >>> ids = torch.tensor([tok("the cat sat")["input_ids"]])
    >>> session = GradientSession(model, layers=None)
    >>> with inspection_mode(model, implementation=NAME), torch.enable_grad(), session.active():
    ...     out = model(input_ids=ids).last_hidden_state
    >>> w = session.weights[("self", 1)]
    >>> g = torch.autograd.grad(out[0, -1].sum(), w)[0]
    >>> g.shape == w.shape == (1, 4, 3, 3)
    True
"""
from __future__ import annotations

__all__ = ["GradientSession"]

import contextlib
from typing import Any, Iterator, Sequence

from attnviz.extraction.streaming import Session, _eager_call


class GradientSession(Session):
    """Keep the kept layers' attention weights and value states in the autograd graph.

    After a forward pass inside :meth:`active` (with ``torch.enable_grad()``), ``weights`` and
    ``values`` map ``(kind, layer)`` to the layer's padded weights (batch, head, query, key) and
    value states (batch, key-value head, key, head dim). The weights require grad when the
    model's inputs or parameters do; :meth:`require_input_grad` makes sure of it.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> GradientSession(tiny_model("bert")[0], layers=[0]).kept_layers("self")
        [0]
    """

    differentiable = True

    def __init__(self, model: Any, *, layers: Sequence[int] | None = None) -> None:
        super().__init__(model, layers=layers, heads=None)
        self.model = model
        self.rows = {kind: [] for kind in ("self", "decoder", "cross")}
        self.weights: dict[tuple[str, int], Any] = {}
        self.values: dict[tuple[str, int], Any] = {}

    @contextlib.contextmanager
    def require_input_grad(self) -> Iterator[None]:
        """Within: the input embeddings' output requires grad, so every layer's weights do, also in a
        model whose parameters are frozen (no parameter gradient is needed for ``autograd.grad``)."""
        def hook(module, args, output):
            return output.requires_grad_(True) if not output.requires_grad else output

        handle = self.model.get_input_embeddings().register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def forward(self, site: tuple[str, int], module: Any, query: Any, key: Any, value: Any, mask: Any,
                dropout: float, scaling: float | None, kwargs: dict[str, Any]) -> Any:
        """The layer's output from its eager weights over every row; keeps the weights and values."""
        import torch

        rows = torch.arange(query.shape[2], device=query.device)
        out, weights = _eager_call(module, query, key, value, mask, dropout, scaling, kwargs, slice(None), rows)
        self.weights[site] = weights
        self.values[site] = value
        self.seen.add(site)
        self.calls += 1
        return out

