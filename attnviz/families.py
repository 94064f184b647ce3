"""Model-family facts in one table: what attnviz needs to know about each architecture.

One :class:`Family` entry per ``config.model_type`` says where the config keeps the number
of layers, heads and positions, whether positions are offset RoBERTa-style and how they
enter attention (absolute, relative, rotary, ALiBi), whether the model is a masked LM or a
causal decoder, and where its modules sit: the layer list (whose outputs are the hidden
states), each layer's self-attention, its output projection (the per-head gates of
:mod:`attnviz.metrics.importance`), its query and key projections and the norm before them
(the neuron view), the final norm (the logit lens) and the cross-attention (the streaming
hooks). The modules that need such a fact read it here (:func:`model_dims`,
:func:`max_positions_of`, :func:`position_offset`, :func:`is_causal`, :func:`is_masked_lm`,
:func:`layer_list`, :func:`layer_modules`, :data:`NORM_NAMES`, :data:`CROSS_NAMES`); a model
type that is not in the table falls back to trying every name the table knows, which
covers most Hugging Face models.

Adding a model family (checklist):

1. Add one entry to :data:`FAMILIES` below (copy the nearest relative with
   ``dataclasses.replace`` and change what differs; ``model_type`` is ``config.model_type``).
   Print the module names of a small random model (``AutoModel.from_config``) to read off
   the paths: ``layers_path`` is relative to ``model.base_model``, ``attention``,
   ``attention_output``, ``query``, ``key`` and ``attention_norm`` to one layer.
2. If attnviz.testing should build it, add it to ``KINDS`` or ``LLM_KINDS`` there (a tiny
   config in ``tiny_config``/``_llm_config``); otherwise ``tests/test_families.py`` builds
   one from the config class (add its config keywords to ``EXTRA_CONFIG`` there if the
   defaults do not build).
3. Run ``tests/test_families.py``: every entry is checked on a tiny model (config names,
   each path resolves in every layer, the attention module is the one the streaming hooks
   see, the positions kind matches the model's modules, is_causal agrees with transformers)
   and, for families the neuron view reads (absolute positions, plain q.k), the softmax of
   the table's q.k is the model's own attention.

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, _ = tiny_model("roberta")
    >>> model_dims(model.config)
    {'layers': 2, 'heads': 4, 'decoder_layers': None}
    >>> position_offset(model.config)
    2
    >>> FAMILIES["gpt2"].final_norm, is_causal(tiny_model("gpt2")[0].config)
    ('ln_f', True)
    >>> FAMILIES["llama"].positions, FAMILIES["llama"].attention_output
    ('rotary', 'self_attn.o_proj')
"""
from __future__ import annotations

__all__ = ["CROSS_NAMES", "FAMILIES", "LAYER_PART_NAMES", "LAYER_PATHS", "NORM_NAMES", "Family", "Positions",
           "family_of", "is_causal", "is_masked_lm", "layer_list", "layer_modules", "max_positions_of", "model_dims",
           "position_offset", "submodule"]

from dataclasses import dataclass, replace
from typing import Any, Literal

Positions = Literal["absolute", "relative", "rotary", "alibi"]


@dataclass(frozen=True)
class Family:
    """What attnviz knows about one model family (one ``config.model_type``).

    Config names:
        layers / heads: config attribute with the number of (encoder) layers / heads.
        decoder_layers: config attribute with the number of decoder layers (encoder-decoders).
        max_positions: config attribute with the size of the position table (None: the
            model has none, e.g. T5's relative positions, BLOOM's ALiBi).

    Behaviour:
        position_offset: RoBERTa-style positions start at ``pad_token_id + 1``, so the table
            holds that many fewer usable positions.
        positions: how positions enter attention: ``"absolute"`` (a position table added to
            the embeddings), ``"relative"`` (a learned bias added to q.k: T5, MPNet),
            ``"rotary"`` (q and k rotated per position: Llama, GPT-NeoX) or ``"alibi"`` (a
            distance bias: BLOOM, MPT). The neuron view reads q.k only for "absolute".
        masked_lm: an encoder trained as a masked LM (its LM head adds a transform before the
            unembedding, so the logit lens does not apply).
        causal: a decoder-only language model (causal self-attention).

    Module paths (dotted attribute names; a number indexes a list):
        layers_path: the list of (encoder) layers, relative to ``model.base_model``; hidden
            state ``i`` is the input of layer ``i`` (the last one, the output of the last
            layer, has the final norm applied in GPT-2-like models).
        decoder_layers_path: the list of decoder layers (encoder-decoders).
        final_norm: the final norm, relative to ``model.base_model`` (logit lens).
        attention: inside one layer, the self-attention module that computes the weights.
        attention_output: inside one layer, the output projection of the self-attention
            (its input is the heads' outputs side by side): :mod:`attnviz.metrics.importance`
            gates each head there.
        query / key: inside one layer, the query and key projections; the same name for both
            when one projection gives q, k and v (GPT-2's ``c_attn``: q, k, v side by side;
            GPT-NeoX, BLOOM and Falcon interleave them per head). None where the weights are not
            ``softmax(q.k / sqrt(d))`` of their outputs (Longformer's windows, I-BERT's
            integer softmax).
        attention_norm: inside one layer, the norm applied to the layer input before the
            query and key projections (pre-LN families; None for post-LN ones).
        cross_attention: module name of the cross-attention (encoder-decoder attention).

    Images:
        modality: ``"text"`` (token ids in), ``"image"`` (a vision transformer: pixels in,
            one token per patch) or ``"image+text"`` (a vision-language model).
        prefix_tokens: for ``"image"``, the labels of the tokens before the patches, in order
            (``"[REG]"`` stands for the ``num_register_tokens`` register tokens of the config).

    Example:
        >>> FAMILIES["t5"].cross_attention, FAMILIES["gpt2"].attention_output
        ('EncDecAttention', 'attn.c_proj')
    """

    layers: str = "num_hidden_layers"
    heads: str = "num_attention_heads"
    decoder_layers: str | None = None
    max_positions: str | None = "max_position_embeddings"
    position_offset: bool = False
    positions: Positions = "absolute"
    masked_lm: bool = False
    causal: bool = False
    layers_path: str | None = None
    decoder_layers_path: str | None = None
    final_norm: str | None = None
    attention: str | None = None
    attention_output: str | None = None
    query: str | None = None
    key: str | None = None
    attention_norm: str | None = None
    cross_attention: str | None = None
    modality: Literal["text", "image", "image+text"] = "text"
    prefix_tokens: tuple[str, ...] = ()


_BERT = Family(masked_lm=True, layers_path="encoder.layer", attention="attention.self",
               attention_output="attention.output.dense", query="attention.self.query", key="attention.self.key",
               cross_attention="crossattention")
_ROBERTA = replace(_BERT, position_offset=True)
_LLAMA = Family(causal=True, positions="rotary", layers_path="layers", final_norm="norm", attention="self_attn",
                attention_output="self_attn.o_proj", query="self_attn.q_proj", key="self_attn.k_proj",
                attention_norm="input_layernorm")
# Vision transformers (transformers 5 layout): a [CLS] token (DeiT: and a distillation token, DINOv2 with
# registers: and register tokens) before the patches in row-major order; SigLIP has no [CLS].
_VIT = Family(max_positions=None, modality="image", prefix_tokens=("[CLS]",), layers_path="layers",
              final_norm="layernorm", attention="attention", attention_output="attention.o_proj",
              query="attention.q_proj", key="attention.k_proj", attention_norm="layernorm_before")
_DINOV2 = replace(_VIT, layers_path="encoder.layer", attention_norm="norm1")
_CLIP_VISION = replace(_VIT, layers_path="encoder.layers", final_norm="post_layernorm", attention="self_attn",
                       attention_output="self_attn.out_proj", query="self_attn.q_proj", key="self_attn.k_proj",
                       attention_norm="layer_norm1")
_T5 = Family(layers="num_layers", heads="num_heads", decoder_layers="num_decoder_layers", max_positions=None,
             positions="relative", layers_path="encoder.block", decoder_layers_path="decoder.block",
             final_norm="decoder.final_layer_norm", attention="layer.0.SelfAttention",
             attention_output="layer.0.SelfAttention.o", query="layer.0.SelfAttention.q",
             key="layer.0.SelfAttention.k", attention_norm="layer.0.layer_norm", cross_attention="EncDecAttention")

#: One entry per ``config.model_type``.
FAMILIES: dict[str, Family] = {
    "bert": _BERT,
    "electra": _BERT,
    "distilbert": Family(layers="n_layers", heads="n_heads", masked_lm=True, layers_path="transformer.layer",
                         attention="attention", attention_output="attention.out_lin", query="attention.q_lin",
                         key="attention.k_lin"),
    **{t: _ROBERTA for t in ("roberta", "xlm-roberta", "camembert", "data2vec-text", "xmod")},
    "xlm-roberta-xl": replace(_ROBERTA, attention_norm="attention.self_attn_layer_norm"),
    "roberta-prelayernorm": replace(_ROBERTA, attention_norm="attention.LayerNorm"),
    "longformer": replace(_ROBERTA, query=None, key=None),            # sliding-window attention
    "ibert": replace(_ROBERTA, query=None, key=None),                 # integer-only softmax
    "mpnet": replace(_ROBERTA, positions="relative", attention="attention.attn", attention_output="attention.attn.o",
                     query="attention.attn.q", key="attention.attn.k", cross_attention=None),
    "gpt2": Family(layers="n_layer", heads="n_head", max_positions="n_positions", causal=True, layers_path="h",
                   final_norm="ln_f", attention="attn", attention_output="attn.c_proj", query="attn.c_attn",
                   key="attn.c_attn", attention_norm="ln_1"),
    "bart": Family(layers="encoder_layers", heads="encoder_attention_heads", decoder_layers="decoder_layers",
                   layers_path="encoder.layers", decoder_layers_path="decoder.layers", attention="self_attn",
                   attention_output="self_attn.out_proj", query="self_attn.q_proj", key="self_attn.k_proj",
                   cross_attention="encoder_attn"),
    "t5": _T5,
    "mt5": _T5,
    **{t: _LLAMA for t in ("llama", "qwen2", "qwen3", "mistral", "mixtral", "gemma", "gemma2", "gemma3_text",
                           "olmo", "stablelm", "cohere")},
    "olmo2": replace(_LLAMA, attention_norm=None),                    # its norms follow attention
    "phi": replace(_LLAMA, final_norm="final_layernorm", attention_output="self_attn.dense"),
    "phi3": replace(_LLAMA, query="self_attn.qkv_proj", key="self_attn.qkv_proj"),
    "gpt_neox": replace(_LLAMA, final_norm="final_layer_norm", attention="attention", attention_output="attention.dense",
                        query="attention.query_key_value", key="attention.query_key_value"),
    # Falcon with alibi=True uses ALiBi, and the new decoder architecture (falcon-40b) norms with ln_attn
    "falcon": replace(_LLAMA, layers_path="h", final_norm="ln_f", attention="self_attention",
                      attention_output="self_attention.dense", query="self_attention.query_key_value",
                      key="self_attention.query_key_value"),
    "bloom": Family(layers="n_layer", heads="n_head", max_positions=None, positions="alibi", causal=True,
                    layers_path="h", final_norm="ln_f", attention="self_attention",
                    attention_output="self_attention.dense", query="self_attention.query_key_value",
                    key="self_attention.query_key_value", attention_norm="input_layernorm"),
    "mpt": Family(layers="n_layers", heads="n_heads", max_positions=None, positions="alibi", causal=True,
                  layers_path="blocks", final_norm="norm_f", attention="attn", attention_output="attn.out_proj",
                  query="attn.Wqkv", key="attn.Wqkv", attention_norm="norm_1"),
    "vit": _VIT,
    "deit": replace(_VIT, prefix_tokens=("[CLS]", "[DIST]")),
    "dinov2": _DINOV2,
    "dinov2_with_registers": replace(_DINOV2, prefix_tokens=("[CLS]", "[REG]")),
    "clip_vision_model": _CLIP_VISION,
    "siglip_vision_model": replace(_CLIP_VISION, prefix_tokens=()),
}


def _known(field: str, *extra: str) -> tuple[str, ...]:
    names = [getattr(f, field) for f in FAMILIES.values()] + list(extra)
    return tuple(dict.fromkeys(n for n in names if n))


#: Config names tried, in order, for a model type missing from the table.
LAYER_NAMES = _known("layers", "n_layer", "num_layers", "encoder_layers", "n_layers")
HEAD_NAMES = _known("heads", "n_head", "num_heads", "encoder_attention_heads", "n_heads")
DECODER_LAYER_NAMES = _known("decoder_layers", "num_decoder_layers", "decoder_layers")
POSITION_NAMES = _known("max_positions", "n_positions", "n_ctx", "max_sequence_length")
#: Where decoder models keep their final norm, relative to ``model.base_model``.
NORM_NAMES = _known("final_norm", "ln_f", "norm", "final_layer_norm", "final_layernorm", "norm_f", "ln_final",
                    "decoder.final_layer_norm", "decoder.norm")
#: Module names of cross-attention (encoder-decoder attention) across families.
CROSS_NAMES = _known("cross_attention", "encoder_attn", "EncDecAttention", "crossattention", "cross_attn",
                     "cross_attention")
#: Paths of the layer list (relative to ``model.base_model``) tried for a model type missing from the table
#: (``decoder.layers``: OPT).
LAYER_PATHS = _known("layers_path", "decoder.layers", "model.layers", "transformer.h", "gpt_neox.layers")
DECODER_LAYER_PATHS = _known("decoder_layers_path", "decoder.layers", "decoder.block")
#: Per-layer module paths tried for a model type missing from the table, by :class:`Family` field
#: (``attn.out_proj``: GPT-J, ``self_attn.out_proj``: OPT).
LAYER_PART_NAMES: dict[str, tuple[str, ...]] = {
    "attention": _known("attention"),
    "attention_output": _known("attention_output", "attn.out_proj", "self_attn.out_proj"),
    "query": _known("query"),
    "key": _known("key"),
    "attention_norm": _known("attention_norm"),
}


def family_of(config: Any) -> Family | None:
    """The table entry of a config (or a model), or None for a model type the table lacks.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> family_of(tiny_model("distilbert")[0]).heads
        'n_heads'
    """
    config = getattr(config, "config", config)
    return FAMILIES.get(getattr(config, "model_type", ""))


def submodule(root: Any, path: str | None) -> Any:
    """The module at a dotted ``path`` under ``root`` (a number indexes a list), or None when it is missing.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> type(submodule(tiny_model("gpt2")[0].base_model, "h.1.attn.c_proj")).__name__
        'Conv1D'
        >>> submodule(tiny_model("gpt2")[0], "no.such") is None
        True
    """
    if not path:
        return None
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _is_module_list(obj: Any) -> bool:
    return (callable(getattr(obj, "named_modules", None)) and hasattr(obj, "__len__")
            and hasattr(obj, "__getitem__") and not hasattr(obj, "keys"))


def layer_list(model: Any, *, decoder: bool = False) -> Any:
    """The model's list of (encoder, or with ``decoder=True`` decoder) layers, or None when none is found.

    The table's ``layers_path`` (``decoder_layers_path``) for a known family; for a model
    type missing from the table, every path the table knows (:data:`LAYER_PATHS`), keeping
    the first list with one module per layer of the config.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> layers = layer_list(tiny_model("bert", head="sequence-classification")[0])
        >>> type(layers).__name__, len(layers)
        ('ModuleList', 2)
        >>> len(layer_list(tiny_model("t5")[0], decoder=True))
        2
    """
    base = getattr(model, "base_model", model)
    config = getattr(model, "config", None)
    fam = family_of(config)
    if fam is not None:
        found = submodule(base, fam.decoder_layers_path if decoder else fam.layers_path)
        return found if _is_module_list(found) else None
    dims = model_dims(config) if config is not None else {}
    count = (dims.get("decoder_layers") or dims.get("layers")) if decoder else dims.get("layers")
    for path in DECODER_LAYER_PATHS if decoder else LAYER_PATHS:
        found = submodule(base, path)
        if _is_module_list(found) and len(found) and (not count or len(found) == count):
            return found
    return None


def layer_modules(model: Any, part: str, *, decoder: bool = False) -> list[Any] | None:
    """The module ``part`` (a per-layer :class:`Family` field: "attention", "attention_output",
    "query", "key", "attention_norm") of every layer, in layer order; None when it is not found
    in every layer (or the family has none).

    A known family uses its own entry; a model type missing from the table tries every
    name the table knows for ``part`` (:data:`LAYER_PART_NAMES`).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> [type(m).__name__ for m in layer_modules(tiny_model("llama")[0], "attention_output")]
        ['Linear', 'Linear']
        >>> layer_modules(tiny_model("bert")[0], "attention_norm") is None   # post-LN: no norm before q, k
        True
    """
    if part not in LAYER_PART_NAMES:
        raise ValueError(f"part={part!r}: use one of {', '.join(LAYER_PART_NAMES)}")
    layers = layer_list(model, decoder=decoder)
    if layers is None:
        return None
    fam = family_of(getattr(model, "config", None))
    names = (getattr(fam, part),) if fam is not None else LAYER_PART_NAMES[part]
    for name in names:
        found = [submodule(layer, name) for layer in layers]
        if name and found and all(m is not None for m in found):
            return found
    return None


def _first_int(config: Any, names: tuple[str | None, ...]) -> int | None:
    for name in names:
        value = getattr(config, name, None) if name else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def model_dims(config: Any) -> dict[str, int | None]:
    """Numbers of layers, heads and decoder layers from a config (None where it has none).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model_dims(tiny_model("t5")[0].config)
        {'layers': 2, 'heads': 4, 'decoder_layers': 2}
    """
    fam = family_of(config)
    mine = (lambda field: (getattr(fam, field),)) if fam else (lambda field: ())
    return {"layers": _first_int(config, mine("layers") + LAYER_NAMES),
            "heads": _first_int(config, mine("heads") + HEAD_NAMES),
            "decoder_layers": _first_int(config, mine("decoder_layers") + DECODER_LAYER_NAMES)}


def position_offset(config: Any) -> int:
    """How many slots of the position table come before the first position (RoBERTa: pad + 1).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> position_offset(tiny_model("bert")[0].config)
        0
    """
    fam = family_of(config)
    if fam is None or not fam.position_offset:
        return 0
    return (getattr(config, "pad_token_id", 0) or 0) + 1


def max_positions_of(config: Any) -> int | None:
    """Usable positions of the config's position table (offset removed), or None when it has none.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> max_positions_of(tiny_model("gpt2")[0].config)
        64
    """
    fam = family_of(config)
    names = ((fam.max_positions,) if fam else ()) + POSITION_NAMES
    limit = _first_int(config, names)
    if limit is None or limit <= 0:
        return None
    return limit - position_offset(config)


def is_masked_lm(config: Any) -> bool:
    """An encoder trained as a masked LM (BERT, RoBERTa, DistilBERT...), not used as a decoder.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> is_masked_lm(tiny_model("bert")[0].config), is_masked_lm(tiny_model("gpt2")[0].config)
        (True, False)
    """
    fam = family_of(config)
    return bool(fam and fam.masked_lm) and not getattr(config, "is_decoder", False)


def is_causal(config: Any) -> bool:
    """Decoder-only language models (GPT-2, Llama...): their self-attention is causal.

    Families missing from the table are looked up in transformers' causal-LM and masked-LM
    model mappings.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> is_causal(tiny_model("llama")[0].config), is_causal(tiny_model("bert")[0].config)
        (True, False)
    """
    config = getattr(config, "config", config)
    fam = family_of(config)
    if fam is not None:
        return fam.causal
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    kind = getattr(config, "model_type", "")
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
