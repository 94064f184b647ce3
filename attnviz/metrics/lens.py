"""The logit lens for decoder language models (nostalgebraist 2020).

Each layer's hidden state is sent through the model's final layer norm and its
unembedding (``model.get_output_embeddings()``), as if the model stopped there; the
top tokens per layer and position show how the prediction forms. In Hugging Face
GPT-2 (and Llama, GPT-NeoX ...), ``hidden_states[-1]`` is already *after* the final
norm, so the last layer is unembedded as it is (norming it twice would change it);
attnviz checks that the last layer reproduces the model's own logits and fails
loudly when it cannot.

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("gpt2", head="lm")
    >>> lens = logit_lens(model, "the cat sat", top_k=3, tokenizer=tok)
    >>> lens.top_probs.shape[1:], lens.labels[:2]
    ((3, 3), ['embeddings', 'layer 0'])
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from attnviz import modeling
from attnviz.extraction.tokens import display_tokens, is_byte_level
from attnviz.families import NORM_NAMES, family_of, is_masked_lm
from attnviz.modeling import ModelLike, Tokenizer, model_data_call
from attnviz.results import ResultIO, json_nan, json_safe


@dataclass
class LogitLens(ResultIO):
    """Top tokens and probabilities per layer (rows) and position (columns).

    Attributes:
        tokens: readable input tokens; input_ids: their ids.
        labels: row names, "embeddings" then "layer 0", "layer 1", ...
        top_ids / top_probs: (layer + 1, position, k) ids and probabilities, best first.
        top_tokens: readable forms of ``top_ids`` (nested lists, same shape).
        next_probs: (layer + 1, position) probability each row gives the actual next
            input token (NaN at the last position).

    Example:
        >>> lens = LogitLens(["a"], [0], ["embeddings"], np.zeros((1, 1, 1), int), np.ones((1, 1, 1)),
        ...                  [[["b"]]], np.full((1, 1), np.nan))
        >>> lens.top_tokens[0][0][0]
        'b'
    """

    tokens: list[str]
    input_ids: list[int]
    labels: list[str]
    top_ids: np.ndarray
    top_probs: np.ndarray
    top_tokens: list[list[list[str]]]
    next_probs: np.ndarray
    text: str = ""
    model_name: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN as null); :meth:`from_dict` inverts it.

        Example:
            >>> lens = LogitLens(["a"], [0], ["embeddings"], np.zeros((1, 1, 1), int), np.ones((1, 1, 1)),
            ...                  [[["b"]]], np.full((1, 1), np.nan))
            >>> LogitLens.from_dict(lens.to_dict()) == lens
            True
        """
        return json_safe({"tokens": self.tokens, "input_ids": self.input_ids, "labels": self.labels,
                          "top_ids": self.top_ids, "top_probs": self.top_probs, "top_tokens": self.top_tokens,
                          "next_probs": self.next_probs, "text": self.text, "model_name": self.model_name})

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> LogitLens:
        """Inverse of :meth:`to_dict`."""
        nxt = np.array(json_nan(doc["next_probs"]), dtype=float)
        return cls(list(doc["tokens"]), list(doc["input_ids"]), list(doc["labels"]),
                   np.asarray(doc["top_ids"], dtype=np.int64), np.asarray(doc["top_probs"], dtype=float),
                   doc["top_tokens"], nxt, text=doc.get("text", ""), model_name=doc.get("model_name", ""))

    def __repr__(self) -> str:
        return f"LogitLens({len(self.labels)} rows x {len(self.tokens)} positions, top_k={self.top_ids.shape[-1]})"

    def plot(self, *, ax=None, **kwargs: Any):
        """Layers x positions table of top-1 tokens shaded by probability (:func:`attnviz.plot.lens.lens_table`).

        Example:
            >>> from attnviz.testing import tiny_model
            >>> model, tok = tiny_model("gpt2", head="lm")
            >>> ax = logit_lens(model, "the cat", tokenizer=tok).plot()
            >>> len(ax.texts) == 3 * 2
            True
        """
        from attnviz.plot.lens import lens_table

        return lens_table(self, ax=ax, **kwargs)


def final_norm_of(model: Any):
    """The final layer norm module of a decoder model, or None when none is found.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> type(final_norm_of(tiny_model("gpt2", head="lm")[0])).__name__
        'LayerNorm'
    """
    base = getattr(model, "base_model", model)
    family = family_of(model)
    for name in ((family.final_norm,) if family and family.final_norm else ()) + NORM_NAMES:
        obj = base
        for part in name.split("."):
            obj = getattr(obj, part, None)
        if obj is not None and callable(obj):
            return obj
    return None


@model_data_call("text")
def logit_lens(model: ModelLike, text: str, *, tokenizer: Tokenizer = None, top_k: int = 5,
               final_norm: Any = None) -> LogitLens:
    """Apply the final norm and unembedding to every layer's hidden state of ``text``.

    Args:
        model: a decoder language model with an LM head (``GPT2LMHeadModel``,
            ``AutoModelForCausalLM``), or the local folder of one.
        text: the input text.
        tokenizer: its tokenizer (None: loaded from beside the model).
        top_k: tokens kept per layer and position.
        final_norm: the final layer-norm module, when attnviz cannot find it.

    Raises ValueError for models without an LM head or encoder-decoder models, and
    when the last layer's lens does not reproduce the model's logits.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2", head="lm")
        >>> lens = logit_lens(model, "hello world", tokenizer=tok)
        >>> len(lens.labels) == model.config.n_layer + 1
        True
    """
    import torch

    model, tokenizer = modeling.resolve_model(model, tokenizer)
    unembed = _check_model(model)
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text must be a non-empty string: pass the prompt to look through, e.g. 'The cat sat'")
    if top_k < 1:
        raise ValueError(f"top_k={top_k}: keep at least one token")
    enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=modeling.max_positions(model, tokenizer))
    enc = {k: v.to(modeling.input_device(model)) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
    with modeling.inspection_mode(model):
        out = model(**enc, output_hidden_states=True, return_dict=True, use_cache=False)
        states = [h[0] for h in out.hidden_states]
        norm = final_norm if final_norm is not None else final_norm_of(model)
        normed_last = _last_layer_convention(unembed, norm, states[-1], out.logits[0])
        k = min(top_k, out.logits.shape[-1])
        ids, probs, nxt = [], [], []
        target = enc["input_ids"][0, 1:]
        for index, h in enumerate(states):
            if norm is not None and not (normed_last and index == len(states) - 1):
                h = norm(h)
            p = torch.softmax(unembed(h).float(), dim=-1)
            top = p.topk(k, dim=-1)
            ids.append(top.indices.cpu().numpy())
            probs.append(top.values.cpu().numpy())
            row = np.full(p.shape[0], np.nan)
            row[:-1] = p[:-1].gather(-1, target[:, None])[:, 0].cpu().numpy()
            nxt.append(row)
    input_ids = enc["input_ids"][0].tolist()
    byte_level = is_byte_level(tokenizer)
    top_ids = np.stack(ids)
    top_tokens = [[display_tokens(tokenizer.convert_ids_to_tokens(pos.tolist()), byte_level=byte_level)
                   for pos in layer] for layer in top_ids]
    return LogitLens(display_tokens(tokenizer.convert_ids_to_tokens(input_ids), byte_level=byte_level), input_ids,
                     ["embeddings"] + [f"layer {i}" for i in range(len(states) - 1)], top_ids,
                     np.stack(probs), top_tokens, np.stack(nxt), text=text,
                     model_name=str(getattr(model, "name_or_path", "") or type(model).__name__))


def _check_model(model: Any):
    cfg = getattr(model, "config", None)
    if cfg is None:
        raise TypeError(f"logit_lens needs a Hugging Face model, not {type(model).__name__}")
    if getattr(cfg, "is_encoder_decoder", False):
        raise ValueError(f"logit_lens is for decoder-only language models; {type(model).__name__} is an "
                         "encoder-decoder: use a GPT-2-like model (AutoModelForCausalLM)")
    unembed = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if unembed is None:
        raise ValueError(f"{type(model).__name__} has no LM head (no output embeddings), so there is no unembedding "
                         "to read the layers through: load the model with AutoModelForCausalLM (e.g. "
                         "GPT2LMHeadModel) instead of AutoModel")
    if is_masked_lm(getattr(model.base_model, "config", cfg)) and not getattr(cfg, "is_decoder", False):
        raise ValueError(f"logit_lens is for decoder language models; {type(model).__name__} is a masked LM whose "
                         "head adds a transform before the unembedding: use a GPT-2-like causal LM")
    return unembed


def _last_layer_convention(unembed, norm, last, logits) -> bool:
    """True when hidden_states[-1] is already normed (GPT-2); False when it needs the norm."""
    import torch

    def close(x):
        return torch.allclose(x.float(), logits.float(), atol=1e-4, rtol=1e-4)

    if close(unembed(last)):
        return True
    if norm is not None and close(unembed(norm(last))):
        return False
    raise ValueError("the logit lens of the last layer does not reproduce the model's logits (the model may scale "
                     "or cap its logits, or its final norm was not found): pass final_norm= the model's final "
                     "layer-norm module")
