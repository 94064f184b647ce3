"""``extract_generation``: attention and hidden states of a model while it writes text.

``model.generate(..., output_attentions=True, return_dict_in_generate=True)`` gives
attention step by step (with the cache, the first step covers the prompt and every
later step one new row). :func:`extract_generation` runs ``generate`` under
:func:`attnviz.modeling.inspection_mode` (eager attention, eval mode, all restored
afterwards) and stitches the steps into whole maps (see :mod:`attnviz._stitch`), so
that the result is an ordinary :class:`~attnviz.Capture` that every plot and view
accepts, with ``example.prompt_length`` marking where the generated tokens start.

Which tokens have rows: ``generate`` never feeds back the last token it wrote, so
one extra forward step feeds it (using the cache when there is one). The maps then
cover the *whole* final sequence and equal one teacher-forced forward pass over it;
the last row is the attention the model would use to predict the token after the
last one.

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("gpt2", head="lm")
    >>> cap = extract_generation(model, tok, "the cat", max_new_tokens=3, min_new_tokens=3)
    >>> ex = cap[0]
    >>> ex.prompt_length, len(ex.tokens), ex.attentions.shape[2:]
    (2, 5, (5, 5))
"""
from __future__ import annotations

__all__ = ["extract_generation"]

import types
from typing import Any

import numpy as np

from attnviz.capture import Capture, Example
from attnviz.extraction._stitch import final_step, step_maps, step_states, stitch_rows
from attnviz.extraction.batching import DTYPES, capture_from
from attnviz.extraction.tokens import display_tokens, is_byte_level, special_mask
from attnviz.modeling import input_device, inspection_mode, max_positions, resolve_model

# generate() arguments that extract_generation sets itself.
RESERVED = ("output_attentions", "output_hidden_states", "return_dict_in_generate", "input_ids",
            "inputs", "attention_mask")


def extract_generation(
    model: Any,
    tokenizer: Any = None,
    prompt: str = "",
    *,
    max_new_tokens: int = 20,
    do_sample: bool = False,
    seed: int | None = None,
    dtype: str = "float32",
    hidden_states: bool = True,
    **generate_kwargs: Any,
) -> Capture:
    """Let ``model`` continue ``prompt`` and capture attention over the whole sequence.

    Greedy decoding by default; ``do_sample=True`` samples (``temperature``, ``top_k``,
    ``top_p``... pass through to ``generate``), reproducibly when ``seed`` is given (the
    seed is applied in a forked RNG, so the global torch RNG is left alone). Beam
    search is refused: it reorders the steps' maps.

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
        tokenizer: its tokenizer (None: load it from beside the model).
        prompt: the text to continue (or, for encoder-decoders, the source text).
        max_new_tokens: at most this many tokens are generated (fewer on EOS).
        do_sample / seed: sampling instead of greedy decoding, and its seed.
        dtype: storage dtype of the maps, "float32" or "float16".
        hidden_states: False to skip hidden states.
        **generate_kwargs: passed to ``model.generate`` (e.g. ``min_new_tokens``,
            ``use_cache=False``, ``temperature``).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("t5", head="lm")
        >>> cap = extract_generation(model, tok, "the cat sat", max_new_tokens=4, min_new_tokens=4)
        >>> ex = cap[0]
        >>> len(ex.decoder_tokens), ex.cross_attentions.shape[2:] == (5, len(ex.tokens))
        (5, True)
    """
    model, tokenizer = resolve_model(model, tokenizer)
    _check_arguments(model, prompt, max_new_tokens, dtype, generate_kwargs)
    enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
    inputs = _encode(model, tokenizer, prompt, max_new_tokens, enc_dec)
    kwargs = _generate_kwargs(model, tokenizer, max_new_tokens, do_sample, generate_kwargs)
    with inspection_mode(model):
        out = _run_generate(model, inputs, seed, hidden_states, kwargs)
        build = _encoder_decoder_example if enc_dec else _decoder_example
        example, dims = build(model, tokenizer, inputs, out, hidden_states)
    _finish(example, np.dtype(dtype), prompt, tokenizer, out)
    cap = capture_from(model, [example], num_layers=dims.num_layers, num_heads=dims.num_heads,
                       num_decoder_layers=dims.num_decoder_layers, dtype=dtype)
    cap.extra["generation"] = {
        "max_new_tokens": int(max_new_tokens), "num_generated": dims.num_generated,
        "do_sample": bool(do_sample), "seed": seed, "use_cache": bool(kwargs.get("use_cache", True)),
        "prompt_length": example.prompt_length,
        "last_row": "one extra forward step feeds the last generated token",
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
                             "sequences reorder the steps' attention; use greedy decoding or do_sample=True "
                             "and call once per sequence")


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
def _run_generate(model: Any, inputs: dict, seed: int | None, hidden: bool, kwargs: dict):
    import contextlib

    import torch

    fork: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if seed is not None:
        cuda = [d.index or 0 for d in {p.device for p in model.parameters()} if d.type == "cuda"]
        fork = torch.random.fork_rng(devices=cuda)
    with fork:
        if seed is not None:
            torch.manual_seed(int(seed))
        return model.generate(**inputs, **kwargs, output_attentions=True, output_hidden_states=hidden,
                              return_dict_in_generate=True)


def _cache_of(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def _stitched(model, steps, final, ends, what, width=None):
    """Stitch one kind of attention from the generate steps plus the final step."""
    maps = [step_maps(s, model, what) for s in steps] + [step_maps(final, model, what)]
    return stitch_rows(maps, ends, width)


def _stitched_states(steps, final, ends):
    states = [step_states(s) for s in steps] + [step_states(final)]
    return stitch_rows(states, ends, states[0].shape[-1])


def _decoder_example(model, tokenizer, inputs, out, hidden):
    sequence = out.sequences[:1]
    total, prompt_len = int(sequence.shape[1]), int(inputs["input_ids"].shape[1])
    last = final_step(model, sequence, _cache_of(out), hidden)
    ends = [int(a[0].shape[-1]) for a in out.attentions] + [total]
    att = _stitched(model, out.attentions, last.attentions, ends, "attentions")
    ex = _tokens_example(tokenizer, sequence[0].tolist())
    ex.attentions = att
    if hidden:
        ex.hidden_states = _stitched_states(out.hidden_states, last.hidden_states, ends)
    ex.prompt_length = prompt_len
    dims = types.SimpleNamespace(num_layers=att.shape[0], num_heads=att.shape[1], num_decoder_layers=None,
                                 num_generated=total - prompt_len)
    return ex, dims


def _encoder_decoder_example(model, tokenizer, inputs, out, hidden):
    sequence = out.sequences[:1]
    total, generated = int(sequence.shape[1]), len(out.decoder_attentions)
    last = final_step(model, sequence, _cache_of(out), hidden, encoder_inputs=inputs)
    ex = _tokens_example(tokenizer, inputs["input_ids"][0].tolist())
    ex.attentions = step_maps(out.encoder_attentions, model, "encoder attentions")
    if hidden:
        ex.hidden_states = step_states(out.encoder_hidden_states)
    ends = [int(a[0].shape[-1]) for a in out.decoder_attentions] + [total]
    ex.decoder_attentions = _stitched(model, out.decoder_attentions, last.decoder_attentions, ends,
                                      "decoder attentions")
    ex.cross_attentions = _stitched(model, out.cross_attentions, last.cross_attentions, ends,
                                    "cross attentions", len(ex.tokens))
    if hidden:
        ex.decoder_hidden_states = _stitched_states(out.decoder_hidden_states, last.decoder_hidden_states, ends)
    ids = sequence[0].tolist()
    byte_level = is_byte_level(tokenizer)
    ex.decoder_tokens = tokenizer.convert_ids_to_tokens(ids)
    ex.decoder_display_tokens = display_tokens(ex.decoder_tokens, byte_level=byte_level)
    ex.decoder_special_mask = special_mask(ids, tokenizer)
    ex.prompt_length = total - generated
    dims = types.SimpleNamespace(num_layers=ex.attentions.shape[0], num_heads=ex.attentions.shape[1],
                                 num_decoder_layers=ex.decoder_attentions.shape[0], num_generated=generated)
    return ex, dims


def _tokens_example(tokenizer: Any, ids: list[int]) -> Example:
    tokens = tokenizer.convert_ids_to_tokens(ids)
    return Example(tokens=tokens, display_tokens=display_tokens(tokens, byte_level=is_byte_level(tokenizer)),
                   special_mask=special_mask(ids, tokenizer))


def _finish(ex: Example, dtype: np.dtype, prompt: str, tokenizer: Any, out: Any) -> None:
    """Cast the maps to the storage dtype and fill the text fields."""
    for name in ("attentions", "hidden_states", "decoder_attentions", "cross_attentions",
                 "decoder_hidden_states"):
        value = getattr(ex, name)
        if value is not None:
            setattr(ex, name, np.ascontiguousarray(value, dtype=dtype))
    ids = out.sequences[0].tolist()
    start = ex.prompt_length
    ex.text = prompt
    ex.decoder_text = tokenizer.decode(ids[start:], skip_special_tokens=True)
