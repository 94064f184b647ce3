"""Model-family facts in one table: what attnviz needs to know about each architecture.

One :class:`Family` entry per ``config.model_type`` says where the config keeps the number
of layers, heads and positions, whether positions are offset RoBERTa-style, whether the
model is a masked LM or a causal decoder, where the final norm sits (for the logit lens)
and how its cross-attention modules are named (for :mod:`attnviz.streaming`). The modules
that need such a fact read it here (:func:`model_dims`, :func:`max_positions_of`,
:func:`position_offset`, :func:`is_causal`, :func:`is_masked_lm`, :data:`NORM_NAMES`,
:data:`CROSS_NAMES`); a model type that is not in the table falls back to trying every
name the table knows, which covers most Hugging Face models.

Adding a model family (checklist):

1. Add one entry to :data:`FAMILIES` below (copy the nearest relative and change what
   differs; ``model_type`` is ``config.model_type``).
2. If attnviz.testing should build it, add it to ``KINDS`` or ``LLM_KINDS`` there (a tiny
   config in ``tiny_config``/``_llm_config``).
3. Run ``tests/test_families.py``: it checks that every family of attnviz.testing has an
   entry and that each entry's facts hold for its tiny model.

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, _ = tiny_model("roberta")
    >>> model_dims(model.config)
    {'layers': 2, 'heads': 4, 'decoder_layers': None}
    >>> position_offset(model.config)
    2
    >>> FAMILIES["gpt2"].final_norm, is_causal(tiny_model("gpt2")[0].config)
    ('ln_f', True)
"""
from __future__ import annotations

__all__ = ["CROSS_NAMES", "FAMILIES", "NORM_NAMES", "Family", "family_of", "is_causal", "is_masked_lm",
           "max_positions_of", "model_dims", "position_offset"]

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Family:
    """What attnviz knows about one model family (one ``config.model_type``).

    Attributes:
        layers / heads: config attribute with the number of (encoder) layers / heads.
        decoder_layers: config attribute with the number of decoder layers (encoder-decoders).
        max_positions: config attribute with the size of the position table (None: relative
            positions, e.g. T5).
        position_offset: RoBERTa-style positions start at ``pad_token_id + 1``, so the table
            holds that many fewer usable positions.
        masked_lm: an encoder trained as a masked LM (its LM head adds a transform before the
            unembedding, so the logit lens does not apply).
        causal: a decoder-only language model (causal self-attention).
        final_norm: the final norm, relative to ``model.base_model`` (logit lens).
        cross_attention: module name of the cross-attention (encoder-decoder attention).

    Example:
        >>> FAMILIES["t5"].cross_attention
        'EncDecAttention'
    """

    layers: str = "num_hidden_layers"
    heads: str = "num_attention_heads"
    decoder_layers: str | None = None
    max_positions: str | None = "max_position_embeddings"
    position_offset: bool = False
    masked_lm: bool = False
    causal: bool = False
    final_norm: str | None = None
    cross_attention: str | None = None


_BERT = Family(masked_lm=True, cross_attention="crossattention")
_ROBERTA = replace(_BERT, position_offset=True)
_LLAMA = Family(causal=True, final_norm="norm")

#: One entry per ``config.model_type``.
FAMILIES: dict[str, Family] = {
    "bert": _BERT,
    "electra": _BERT,
    "distilbert": Family(layers="n_layers", heads="n_heads", masked_lm=True),
    **{t: _ROBERTA for t in ("roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text",
                             "longformer", "ibert", "xmod", "roberta-prelayernorm")},
    "mpnet": replace(_ROBERTA, cross_attention=None),
    "gpt2": Family(layers="n_layer", heads="n_head", max_positions="n_positions", causal=True, final_norm="ln_f"),
    "bart": Family(layers="encoder_layers", heads="encoder_attention_heads", decoder_layers="decoder_layers",
                   cross_attention="encoder_attn"),
    "t5": Family(layers="num_layers", heads="num_heads", decoder_layers="num_decoder_layers", max_positions=None,
                 final_norm="decoder.final_layer_norm", cross_attention="EncDecAttention"),
    "llama": _LLAMA,
    "qwen2": _LLAMA,
    "mistral": _LLAMA,
    "gemma2": _LLAMA,
    "phi3": _LLAMA,
    "gpt_neox": Family(causal=True, final_norm="final_layer_norm"),
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


def family_of(config: Any) -> Family | None:
    """The table entry of a config (or a model), or None for a model type the table lacks.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> family_of(tiny_model("distilbert")[0]).heads
        'n_heads'
    """
    config = getattr(config, "config", config)
    return FAMILIES.get(getattr(config, "model_type", ""))


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
