"""The neuron view: query and key vectors of one head and their elementwise product.

As bertviz's neuron view: for a query token, the page shows its query vector q, each
key token's key vector k, the elementwise product q * k (whose sum, times the scale
1/sqrt(d), is the attention score) and the resulting softmax weight. The vectors come
from the model's own projection weights applied to the captured hidden states (the
input of the layer), so nothing is run again but one matrix product per layer.

Families: the projections are read where :data:`attnviz.families.FAMILIES` says the
attention score is a plain scaled dot product of q and k: absolute positions, an
encoder-only or decoder-only model, and known ``query``/``key`` projections (BERT-like
encoders, DistilBERT, GPT-2, which applies ``ln_1`` first, ...: :data:`SUPPORTED`). The
others are refused with the reason their ``positions`` kind gives (:data:`REASONS`): T5 and
MPNet add a learned relative-position bias; rotary families (llama, mistral, qwen2, gemma,
phi3, gpt_neox, ...) rotate q and k per position after the projection, so the projected
vectors are not the ones multiplied; ALiBi families (bloom, mpt) add a distance bias;
seq2seq families (bart, ...) are not read yet. The page checks itself: the softmax of the
scores is the captured attention (``tests/test_families.py`` compares them for every family
the view reads).

Example: :func:`query_key_vectors` (a BERT-like encoder and GPT-2).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from attnviz.capture import Capture
from attnviz.families import FAMILIES, Family, family_of, layer_list, model_dims, submodule

if TYPE_CHECKING:
    from transformers import PreTrainedModel

#: Why the view refuses a family, by the ``positions`` kind of its table entry.
REASONS = {
    "relative": "it adds a learned relative-position bias to q.k",
    "rotary": "rotary position embeddings rotate q and k per position after the projection",
    "alibi": "it adds an ALiBi distance bias to q.k",
}


def supports(family: Family | None) -> bool:
    """Whether the neuron view reads this family: absolute positions, no encoder-decoder, known q and k.

    Example:
        >>> from attnviz.families import FAMILIES
        >>> supports(FAMILIES["gpt2"]), supports(FAMILIES["llama"]), supports(FAMILIES["bart"])
        (True, False, False)
    """
    return (family is not None and family.positions == "absolute" and family.decoder_layers is None
            and bool(family.query and family.key and family.layers_path))


#: Model types the view reads (derived from the family table).
SUPPORTED = tuple(name for name, family in FAMILIES.items() if supports(family))


@dataclass
class QueryKey:
    """Query and key vectors of one head for one example.

    Attributes:
        query / key: (token, head_dim) float32 arrays.
        scale: the factor of the dot product (1/sqrt(head_dim) for these families).
        causal: True for decoders (a query sees only keys up to itself).
        tokens: display forms of the tokens.
        layer / head: model indices.

    Example:
        >>> qk = QueryKey(np.eye(2), np.eye(2), 1.0, False, ["a", "b"], 0, 0)
        >>> np.round(qk.attention()[0], 3).tolist()
        [0.731, 0.269]
    """

    query: np.ndarray
    key: np.ndarray
    scale: float
    causal: bool
    tokens: list[str]
    layer: int
    head: int

    def scores(self) -> np.ndarray:
        """``scale * q @ k.T`` with -inf above the diagonal for causal models."""
        s = (self.query @ self.key.T) * self.scale
        if self.causal:
            s = np.where(np.tril(np.ones_like(s, dtype=bool)), s, -np.inf)
        return s

    def attention(self) -> np.ndarray:
        """Softmax of :meth:`scores` along keys: the attention map these vectors give."""
        s = self.scores()
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def query_key_vectors(model: PreTrainedModel, capture: Capture, *, example: int = 0, layer: int = 0, head: int = 0) -> QueryKey:
    """Query and key vectors of ``head`` in ``layer`` from the model's weights and the captured hidden states.

    Raises NotImplementedError (saying why) for families whose score is not a plain
    scaled dot product of the projected vectors, and ValueError when the capture has no
    hidden states or the model does not match it.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bert")
        >>> cap = attnviz.extract(model, "the cat sat", tokenizer=tok)
        >>> qk = query_key_vectors(model, cap, layer=1, head=2)
        >>> qk.query.shape == qk.key.shape == (len(cap[0].tokens), 8)
        True
        >>> model, tok = tiny_model("gpt2")
        >>> cap = attnviz.extract(model, "hello there world", tokenizer=tok)
        >>> qk = query_key_vectors(model, cap, layer=0, head=1)
        >>> bool(np.allclose(qk.attention(), cap[0].attentions[0, 1], atol=1e-4))
        True
    """
    import torch

    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    family = family_of(config)
    if family is None or not supports(family):
        raise NotImplementedError(f"the neuron view does not support {model_type!r}: {_why_not(family)}; "
                                  f"supported: {', '.join(SUPPORTED)}")
    ex = capture[example]
    if ex.hidden_states is None:
        raise ValueError("this capture has no hidden states: extract it with hidden_states=True (the default)")
    dims = model_dims(config)
    n_model = dims["layers"]
    if n_model is not None and ex.hidden_states.shape[0] != n_model + 1:
        raise ValueError(f"the capture has {ex.hidden_states.shape[0] - 1} layers of hidden states but the model "
                         f"{n_model}: pass the model the capture was made with")
    n_layers = ex.hidden_states.shape[0] - 1
    if not 0 <= layer < n_layers:
        raise ValueError(f"layer {layer} is out of range: the model has layers 0..{n_layers - 1}")
    heads = int(dims["heads"] or 0)
    if not 0 <= head < heads:
        raise ValueError(f"head {head} is out of range: the model has heads 0..{heads - 1}")
    param = next(model.parameters())
    x = torch.as_tensor(np.asarray(ex.hidden_states[layer]), dtype=param.dtype, device=param.device)
    with torch.no_grad():
        q, k = _project(model, family, layer, x)
    d = q.shape[-1] // heads
    scale = 1.0 / np.sqrt(d)
    if getattr(config, "scale_attn_weights", True) is False:        # GPT-2 options
        scale = 1.0
    if getattr(config, "scale_attn_by_inverse_layer_idx", False):
        scale /= layer + 1
    part = slice(head * d, (head + 1) * d)
    q = q[..., part].float().cpu().numpy()
    k = k[..., part].float().cpu().numpy()
    return QueryKey(q, k, float(scale), family.causal, list(ex.display_tokens or []), int(layer), int(head))


def _project(model: Any, family: Family, layer: int, x: Any) -> tuple[Any, Any]:
    """q and k of all heads, (token, heads * d), from the input ``x`` of ``layer`` (the table's modules)."""
    block = layer_list(model)[layer]
    norm = submodule(block, family.attention_norm)
    if norm is not None:
        x = norm(x)
    if family.query == family.key:                                   # one projection: q, k, v side by side
        qkv = submodule(block, family.query)(x)
        width = qkv.shape[-1] // 3
        return qkv[..., :width], qkv[..., width: 2 * width]
    return submodule(block, family.query)(x), submodule(block, family.key)(x)


def _why_not(family: Family | None) -> str:
    if family is None:
        return "its family is not in attnviz.families.FAMILIES (add it there)"
    if family.positions in REASONS:
        return REASONS[family.positions]
    if family.decoder_layers is not None:
        return "encoder-decoder models are not read yet"
    return "its attention is not a plain scaled dot product of two projections"


def neuron_view(model: PreTrainedModel, capture: Capture, *, example: int = 0, layer: int = 0, head: int = 0,
                query: int | None = None, layers: Sequence[int] | None = None, heads: Sequence[int] | None = None,
                title: str | None = None, theme: str = "auto"):
    """An HTML view of q, k, q * k, the score and the weight for each key of a chosen query token.

    Click or hover a token on the left to make it the query. Columns: the key vector k,
    the elementwise product q * k (blue negative, red positive; the sum of a row times
    the scale is the score), the score and the softmax weight (the captured attention).
    Layer and head menus switch between the included heads in the page; colour bars under
    the vectors give the values of q, k and q * k (each 0-centred, to its largest magnitude).

    Args:
        model: the model the capture was made with (its projection weights are read).
        capture: a Capture with hidden states.
        example / layer / head: which map is shown first; query: the query token shown
            first (default: the first non-special token).
        layers / heads: the model layers / heads the menus offer (default: all; each adds
            2 x tokens x head size numbers to the page).
        title, theme: as in :func:`attnviz.notebook.head_view`.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bert")
        >>> view = neuron_view(model, attnviz.extract(model, "the cat sat", tokenizer=tok), layer=1, head=0)
        >>> type(view).__name__, view.payload["d"], view.payload["layers"], view.payload["heads"]
        ('NeuronView', 8, [0, 1], [0, 1, 2, 3])
    """
    from attnviz.notebook.html import NeuronView, _check_style

    _check_style("linear", theme)
    qk = query_key_vectors(model, capture, example=example, layer=layer, head=head)
    states = capture[example].hidden_states
    n_layers = (0 if states is None else states.shape[0]) - 1
    n_heads = int(model_dims(model.config)["heads"] or 0)
    chosen_layers = list(range(n_layers)) if layers is None else [int(x) for x in layers]
    chosen_heads = list(range(n_heads)) if heads is None else [int(x) for x in heads]
    for what, value, chosen in (("layer", layer, chosen_layers), ("head", head, chosen_heads)):
        if value not in chosen:
            raise ValueError(f"{what}={value} is not among the included {what}s {chosen}: add it to {what}s=")
    ex = capture[example]
    if query is None:
        query = next((i for i, s in enumerate(ex.special_mask or []) if not s), 0)
    if not 0 <= query < len(qk.tokens):
        raise ValueError(f"query {query} is out of range: the example has tokens 0..{len(qk.tokens) - 1}")
    vectors = []
    for li in chosen_layers:
        row = []
        for hi in chosen_heads:
            one = qk if (li, hi) == (layer, head) else query_key_vectors(model, capture, example=example, layer=li, head=hi)
            row.append({"q": np.round(one.query, 4).tolist(), "k": np.round(one.key, 4).tolist(), "scale": one.scale})
        vectors.append(row)
    payload = {"version": 1, "theme": theme, "tokens": qk.tokens, "special": [int(s) for s in ex.special_mask or []],
               "layer": qk.layer, "head": qk.head, "d": int(qk.query.shape[1]), "scale": qk.scale,
               "causal": qk.causal, "query": int(query), "model": capture.model_name or capture.model_type,
               "q": np.round(qk.query, 4).tolist(), "k": np.round(qk.key, 4).tolist(), "kinds": [],
               "layers": chosen_layers, "heads": chosen_heads, "vectors": vectors}
    return NeuronView(payload, title=title or "")
