"""``extract_generation``: attention and hidden states of a model while it writes text.

Two steps. First the model writes: ``model.generate`` runs with the model's own attention
(sdpa or eager, as it was loaded), in eval mode and without gradients, and returns only
the token ids: no attention is asked for, so no step keeps any map. Then one teacher-forced
forward pass over the final sequence (prompt + generated tokens; for encoder-decoders, the
source and the decoder start token + generated tokens) runs on the per-layer path of
:func:`attnviz.extract` (:func:`attnviz.extraction.extract.extract_ids`, built on
:mod:`attnviz.streaming`): only the kept ``layers``, ``heads`` and ``queries`` rows are
ever computed, block by block. The result is an ordinary :class:`~attnviz.Capture` that
every plot and view accepts, with ``example.prompt_length`` marking where the generated
tokens start.

The maps equal those of ``generate(..., output_attentions=True)`` stitched step by step
(the prompt step's rows, then one row per step) plus one extra step that feeds the last
generated token: with the cache or without it, that is the same causal computation as one
teacher-forced pass over the whole sequence. The last row is the attention the model would
use to predict the token after the last one.

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("gpt2", head="lm")
    >>> cap = extract_generation(model, "the cat", max_new_tokens=3, min_new_tokens=3, tokenizer=tok)
    >>> ex = cap[0]
    >>> ex.prompt_length, len(ex.tokens), ex.attentions.shape[2:]
    (2, 5, (5, 5))
    >>> last = extract_generation(model, "the cat", max_new_tokens=3, layers=[1], queries="last", tokenizer=tok)
    >>> last[0].attentions.shape[:3], last[0].query_positions == [len(last[0].tokens) - 1]
    ((1, 4, 1), True)
"""
from __future__ import annotations

__all__ = ["extract_generation"]

from typing import Any, Sequence

import numpy as np

from attnviz.capture import Capture
from attnviz.extraction.batching import DTYPES
from attnviz.extraction.extract import check_selection, extract_ids
from attnviz.extraction.streaming import resolve_queries
from attnviz.modeling import (
    ModelLike,
    Tokenizer,
    input_device,
    inspection_mode,
    max_positions,
    model_data_call,
    resolve_model,
)

# generate() arguments that extract_generation sets itself.
RESERVED = ("output_attentions", "output_hidden_states", "return_dict_in_generate", "input_ids",
            "inputs", "attention_mask")


@model_data_call("prompt")
def extract_generation(
    model: ModelLike,
    prompt: str,
    *,
    tokenizer: Tokenizer = None,
    max_new_tokens: int = 20,
    do_sample: bool = False,
    seed: int | None = None,
    dtype: str = "float32",
    hidden_states: bool = True,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    queries: str | int | Sequence[int] | slice | None = None,
    reduce_heads: str | None = None,
    **generate_kwargs: Any,
) -> Capture:
    """Let ``model`` continue ``prompt`` and capture attention over the whole sequence.

    Greedy decoding by default; ``do_sample=True`` samples (``temperature``, ``top_k``,
    ``top_p``... pass through to ``generate``), reproducibly when ``seed`` is given (the
    seed is applied in a forked RNG, so the global torch RNG is left alone). Beam
    search is refused: it returns several sequences. ``generate`` runs with the model's
    own attention and asks for none; the maps come from one teacher-forced pass over
    the final sequence on the per-layer path (see the module docstring).

    The returned Capture has one example:

    * decoder-only models: ``tokens`` = prompt + generated tokens, ``attentions``
      (layer, head, T, T), ``hidden_states`` (layer + 1, T, hidden),
      ``prompt_length`` = number of prompt tokens.
    * encoder-decoder models: ``tokens``/``attentions``/``hidden_states`` are the
      encoder's (the prompt); ``decoder_tokens`` = decoder start token + generated
      tokens, with ``decoder_attentions``, ``cross_attentions`` (generated x source)
      and ``decoder_hidden_states``; ``prompt_length`` counts the decoder tokens that
      were given, not generated (1: the decoder start token).

    ``text`` is the prompt and ``decoder_text`` the generated text (for both kinds).
    ``capture.extra["generation"]`` records the decoding settings.

    Args:
        model: a model that can generate (``...ForCausalLM``, ``...ForConditionalGeneration``)
            or a local folder to load it from.
        prompt: the text to continue (or, for encoder-decoders, the source text).
        tokenizer: its tokenizer (None: load it from beside the model).
        max_new_tokens: at most this many tokens are generated (fewer on EOS).
        do_sample / seed: sampling instead of greedy decoding, and its seed.
        dtype: storage dtype of the maps, "float32" or "float16".
        hidden_states: False to skip hidden states.
        layers / heads: keep only these model layer / head indices (as in :func:`attnviz.extract`;
            for encoder-decoders the layer indices apply to every kind).
        queries: keep only some query rows of the final sequence: ``"last"``, positions
            (negative count from the end) or a slice; each example records
            ``query_positions``. Decoder-only models.
        reduce_heads: ``"mean"`` or ``"max"`` over the kept heads (the head axis becomes 1).
        **generate_kwargs: passed to ``model.generate`` (e.g. ``min_new_tokens``,
            ``use_cache=False``, ``temperature``).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("t5", head="lm")
        >>> cap = extract_generation(model, "the cat sat", max_new_tokens=4, min_new_tokens=4, tokenizer=tok)
        >>> ex = cap[0]
        >>> len(ex.decoder_tokens), ex.cross_attentions.shape[2:] == (5, len(ex.tokens))
        (5, True)
    """
    model, tokenizer = resolve_model(model, tokenizer)
    _check_arguments(model, prompt, max_new_tokens, dtype, generate_kwargs)
    enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
    inputs = _encode(model, tokenizer, prompt, max_new_tokens, enc_dec)
    prompt_ids = inputs["input_ids"][0].tolist()
    # the checks of extract(), before anything runs (queries against the longest possible sequence)
    check_selection(model, layers, heads, queries, reduce_heads, [len(prompt_ids) + int(max_new_tokens)])
    kwargs = _generate_kwargs(model, tokenizer, max_new_tokens, do_sample, generate_kwargs)
    sequence = _run_generate(model, inputs, seed, kwargs)
    given = _given_decoder_tokens(generate_kwargs) if enc_dec else len(prompt_ids)
    if queries is not None:
        _check_queries_fit(queries, len(sequence), len(sequence) - given)
    # the teacher-forced pass over the final sequence, on the per-layer path
    items, targets = ([{"input_ids": prompt_ids}], [sequence]) if enc_dec else ([{"input_ids": sequence}], None)
    cap = extract_ids(model, tokenizer, items, targets, layers=layers, heads=heads, hidden_states=hidden_states,
                      dtype=dtype, queries=queries, reduce_heads=reduce_heads)
    ex = cap[0]
    ex.prompt_length = given
    ex.text = prompt
    ex.decoder_text = str(tokenizer.decode(sequence[given:], skip_special_tokens=True))
    cap.extra["generation"] = {
        "max_new_tokens": int(max_new_tokens), "num_generated": len(sequence) - given,
        "do_sample": bool(do_sample), "seed": seed, "use_cache": bool(kwargs.get("use_cache", True)),
        "prompt_length": given,
        "last_row": "the teacher-forced pass over the final sequence feeds the last generated token",
    }
    return cap


# --- checks -----------------------------------------------------------------------------
def _check_arguments(model: Any, prompt: Any, max_new_tokens: Any, dtype: str, kwargs: dict) -> None:
    if hasattr(model, "can_generate") and not model.can_generate():
        raise ValueError(
            f"{type(model).__name__} cannot generate text: it is an encoder-only or bare model with no "
            "language-model head for generation. Pass a decoder (e.g. GPT2LMHeadModel, "
            "AutoModelForCausalLM) or an encoder-decoder (T5/BART ...ForConditionalGeneration) model; "
            "to look at an encoder, use attnviz.extract")
    if not isinstance(prompt, str):
        raise TypeError(f"prompt is a {type(prompt).__name__}, not a string: pass one text, and call "
                        "extract_generation once per prompt")
    if not prompt.strip():
        raise ValueError("prompt is empty: give the text the model should continue, "
                         "e.g. extract_generation(model, tok, 'Once upon a time')")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens <= 0:
        raise ValueError(f"max_new_tokens must be a positive int, got {max_new_tokens!r}: "
                         "pass how many tokens to generate, e.g. max_new_tokens=20")
    if dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported: use one of {DTYPES}")
    clash = [k for k in RESERVED if k in kwargs]
    if clash:
        raise TypeError(f"{clash[0]}= is set by extract_generation itself: remove it from the call")
    for name in ("num_beams", "num_return_sequences"):
        if int(kwargs.get(name) or 1) > 1:
            raise ValueError(f"{name}={kwargs[name]} is not supported: beam search and several return "
                             "sequences give more than the one sequence captured; use greedy decoding or "
                             "do_sample=True and call once per sequence")


def _encode(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int, enc_dec: bool) -> dict:
    encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=True)
    n = int(encoded["input_ids"].shape[1])
    if n == 0:
        raise ValueError(f"the prompt {prompt!r} produced no tokens: give it text the tokenizer knows")
    limit = max_positions(model)
    if not enc_dec and n + max_new_tokens > limit:
        fix = (f"shorten the prompt or lower max_new_tokens to {limit - n}" if limit - n >= 1 else
               f"shorten the prompt to at most {limit - 1} tokens (it leaves no position to generate into)")
        raise ValueError(
            f"the prompt has {n} tokens and max_new_tokens={max_new_tokens}, but the model takes at most "
            f"{limit} positions: {fix}")
    if enc_dec and n > limit:
        raise ValueError(f"the prompt has {n} tokens but the model takes at most {limit}: shorten it")
    device = input_device(model)
    return {k: encoded[k].to(device) for k in ("input_ids", "attention_mask") if k in encoded}


def _generate_kwargs(model, tokenizer, max_new_tokens, do_sample, extra) -> dict:
    kwargs = {"num_beams": 1, **extra, "max_new_tokens": int(max_new_tokens), "do_sample": bool(do_sample)}
    if "pad_token_id" not in kwargs and getattr(model.generation_config, "pad_token_id", None) is None:
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is not None:
            kwargs["pad_token_id"] = pad
    return kwargs


# --- running ----------------------------------------------------------------------------
def _run_generate(model: Any, inputs: dict, seed: int | None, kwargs: dict) -> list[int]:
    """The token ids ``generate`` writes (prompt included for decoder-only models), with the
    model's own attention, in eval mode and without gradients; no attention is asked for."""
    import contextlib

    import torch

    fork: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if seed is not None:
        cuda = [d.index or 0 for d in {p.device for p in model.parameters()} if d.type == "cuda"]
        fork = torch.random.fork_rng(devices=cuda)
    own = getattr(model.config, "_attn_implementation", None) or "eager"
    with fork, inspection_mode(model, implementation=own):  # no switch: eval and no_grad only
        if seed is not None:
            torch.manual_seed(int(seed))
        out = model.generate(**inputs, **kwargs, output_attentions=False, output_hidden_states=False,
                             return_dict_in_generate=True)
    return [int(t) for t in out.sequences[0].tolist()]


def _given_decoder_tokens(generate_kwargs: dict) -> int:
    """Decoder tokens of an encoder-decoder that were given, not generated (the start token,
    or the ``decoder_input_ids`` passed to ``generate``)."""
    given = generate_kwargs.get("decoder_input_ids")
    return 1 if given is None else int(given.shape[-1])


def _check_queries_fit(queries: Any, total: int, generated: int) -> None:
    """Resolve ``queries`` against the final sequence (shorter than the longest possible on EOS)."""
    try:
        resolve_queries(queries, total)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{exc}: generation stopped after {generated} new token(s), so the final sequence "
                        f"has {total} tokens; use queries='last' or positions from the end") from None
