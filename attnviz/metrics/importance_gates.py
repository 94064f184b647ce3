"""Head importance, its gates: a per-head (and per-example) factor on each head's output before the
attention output projection (see :mod:`.importance`).

Example:
    >>> from attnviz.testing import tiny_model
    >>> Gates(tiny_model("gpt2")[0]).num_heads
    4
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attnviz.families import LAYER_PART_NAMES, family_of, layer_modules, model_dims

if TYPE_CHECKING:
    import torch

__all__ = ["Gates", "PROJECTIONS", "output_projections"]

#: Per-layer paths of the attention output projection (its input is the heads' concatenated outputs)
#: tried for a model type missing from :data:`attnviz.families.FAMILIES`; a known family uses its
#: ``attention_output``.
PROJECTIONS = LAYER_PART_NAMES["attention_output"]


def output_projections(model: Any) -> list[Any]:
    """The attention output projection of each layer, in layer order (self-attention of encoder-only
    or decoder-only models), as the family table places it (``Family.attention_output``).
    Raises a ValueError naming the model type where none is found.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> [type(m).__name__ for m in output_projections(tiny_model("gpt2")[0])]
        ['Conv1D', 'Conv1D']
    """
    model_type = getattr(model.config, "model_type", "")
    fam = family_of(model.config)
    if (fam is not None and fam.decoder_layers) or getattr(model.config, "is_encoder_decoder", False):
        raise ValueError(f"head_importance supports encoder-only and decoder-only models; {model_type!r} is an "
                         "encoder-decoder: use a BERT-like classifier or a causal language model")
    found = layer_modules(model, "attention_output") or []
    layers = _num_layers(model.config)
    if not found or (layers and len(found) != layers):
        names = (fam.attention_output,) if fam is not None else PROJECTIONS
        raise ValueError(f"could not find one attention output projection per layer in this {model_type!r} model "
                         f"(found {len(found)}, expected {layers}; looked for {', '.join(map(str, names))} in each "
                         "layer): add the family to attnviz.families.FAMILIES")
    return found


def _num_layers(config: Any) -> int:
    return model_dims(config)["layers"] or 0


def _num_heads(config: Any) -> int:
    heads = model_dims(config)["heads"]
    if heads is not None:
        return heads
    raise ValueError("the model config names no number of attention heads (num_attention_heads / n_head)")


class Gates:
    """Forward pre-hooks that multiply each head's output by a gate before the output projection.

    ``values`` is a (batch, layer, head) tensor (or (layer, head), broadcast over the
    batch) read at every forward pass; set it before calling the model.

    Example:
        >>> import torch
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bert")
        >>> with Gates(model) as g:
        ...     g.values = torch.zeros(2, 4)
        ...     out = model(**tok("a cat", return_tensors="pt")).last_hidden_state
        >>> out.shape[-1]
        32
    """

    def __init__(self, model: Any) -> None:
        self.modules = output_projections(model)
        self.num_layers, self.num_heads = len(self.modules), _num_heads(model.config)
        self.values: torch.Tensor | None = None
        self._handles: list[Any] = []

    def __enter__(self) -> Gates:
        for layer, module in enumerate(self.modules):
            self._handles.append(module.register_forward_pre_hook(self._hook(layer)))
        return self

    def __exit__(self, *exc: Any) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, layer: int):
        def hook(module, args):
            if self.values is None:
                return None
            x = args[0]
            gate = self.values[..., layer, :].to(x.dtype)
            shape = x.shape
            heads = x.view(*shape[:-1], self.num_heads, shape[-1] // self.num_heads)
            if gate.dim() == 2:                                   # (batch, head): one gate per example
                gate = gate.view(gate.shape[0], *([1] * (heads.dim() - 3)), self.num_heads, 1)
            else:
                gate = gate.view(self.num_heads, 1)
            return ((heads * gate).view(shape), *args[1:])

        return hook

