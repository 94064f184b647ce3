"""``extract``: run a Hugging Face model on texts and capture attention and hidden states.

The model runs in eval mode, under ``torch.no_grad()``, with eager attention (see
:func:`attnviz.modeling.inspection_mode`), in batches. Each example's maps are
cropped to its real tokens, so no [PAD] row or column survives, and everything is
moved to the CPU as numpy.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert")
    >>> cap = attnviz.extract(model, ["the cat sat on the mat", "hello"], batch_size=2, tokenizer=tok)
    >>> cap[1].tokens
    ['[CLS]', 'hello', '[SEP]']
    >>> cap[1].attentions.shape
    (2, 4, 3, 3)
"""
from __future__ import annotations

__all__ = ["capture_from", "check_selection", "extract", "extract_ids"]

import os
import warnings
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from attnviz.capture import Capture, Example
from attnviz.extraction.batching import DTYPES, BatchRunner, capture_from
from attnviz.extraction.images import extract_images, image_call
from attnviz.extraction.inputs import (
    as_texts,
    check_count,
    check_model_arg,
    check_tokenizer,
    check_vocabulary,
    decoder_targets,
    padding_side_for,
    tokenize_texts,
)
from attnviz.extraction.running import check_selection, open_writer, run_batches, streaming_or_eager
from attnviz.extraction.streaming import NAME as STREAMING
from attnviz.extraction.streaming import query_spec_json
from attnviz.modeling import (
    ModelLike,
    Tokenizer,
    inspection_mode,
    max_positions,
    model_data_call,
    resolve_model,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


@model_data_call("texts")
def extract(
    model: ModelLike,
    texts: str | Sequence[str],
    *,
    tokenizer: Tokenizer = None,
    text_pairs: Sequence[str] | None = None,
    decoder_texts: str | Sequence[str] | None = None,
    labels: Sequence[Sequence[int]] | None = None,
    batch_size: int = 8,
    max_length: int | None = None,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    hidden_states: bool = True,
    dtype: str = "float32",
    padding_side: str | None = None,
    progress: bool | None = None,
    queries: str | int | Sequence[int] | slice | None = None,
    reduce_heads: str | None = None,
    out: str | os.PathLike | None = None,
    shard_size: int = 32,
    images: Any = None,
    processor: Any = None,
) -> Capture:
    """Run ``model`` on ``texts`` (or images) and return a :class:`~attnviz.Capture`.

    Args:
        model: a loaded ``PreTrainedModel`` (any head), or a local folder to load with
            the Auto classes (the tokenizer is then loaded from it when ``None``).
        texts: one string or a list of strings.
        tokenizer: the model's tokenizer, or None to load it from beside the model.
        text_pairs: second segments for sentence-pair input (one per text).
        decoder_texts: for encoder-decoder models, the target texts; the decoder input
            is the target shifted right after the decoder start token, as in training.
        labels: instead of ``decoder_texts``, target token ids (one list per text).
        batch_size: texts per forward pass; padding is removed from every map.
        max_length: truncate longer inputs (default: the model's maximum), with a
            warning that says how many tokens were cut.
        layers / heads: keep only these model layer / head indices.
        hidden_states: False to skip hidden states (saves memory).
        dtype: storage dtype of the maps, "float32" or "float16".
        padding_side: "right" (default) or "left"; left padding is applied only where
            position ids can be passed, so results equal those of unpadded input.
        progress: show a progress bar (default: when more than 4 batches on a terminal).
        queries: keep only some query rows: ``"last"``, a list of positions (negative
            counts from the end) or a slice; maps become (layer, head, q, key) and each
            example records ``query_positions``. Not for encoder-decoder models.
        reduce_heads: ``"mean"`` or ``"max"`` over the kept heads, applied as each layer is
            computed (the head axis becomes 1).
        out: a capture folder to write while extracting (see :mod:`attnviz.store`): each
            shard of ``shard_size`` examples is written as soon as it is computed and dropped
            from memory, and a lazy Capture over the folder is returned. Running the same call
            again resumes (finished shards are skipped); a folder holding a capture of other
            texts raises :class:`attnviz.store.CaptureExistsError`.
        shard_size: examples per shard of ``out``.
        images / processor: images for a vision model: ``extract(model, images, processor=p)``
            with PIL images, H x W x 3 arrays or image file paths (see :mod:`attnviz.extraction.images`;
            the processor is loaded beside the model when None).

    Only the kept layers, heads and rows are ever computed: the model runs with attnviz's
    own attention function (:mod:`attnviz.extraction.streaming`), which computes every layer's output
    with sdpa and the weights only where they are kept, block by block. Models whose
    attention does not go through transformers' attention interface fall back to
    ``output_attentions=True`` with a warning.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("t5", head="lm")
        >>> cap = extract(model, "the cat sat", decoder_texts="le chat", tokenizer=tok)
        >>> ex = cap[0]
        >>> ex.cross_attentions.shape[2:] == (len(ex.decoder_tokens), len(ex.encoder_tokens))
        True
    """
    check_model_arg(model)
    routed = image_call(model, texts, images, processor)
    if routed is not None:  # images: same options, same per-layer path (attnviz.extraction.images)
        unused = [name for name, value in (("tokenizer", tokenizer), ("text_pairs", text_pairs),
                                           ("decoder_texts", decoder_texts), ("labels", labels),
                                           ("max_length", max_length), ("padding_side", padding_side))
                  if value is not None]
        if unused:
            raise ValueError(f"{', '.join(unused)} do(es) not apply to images: drop it (a vision-language model's "
                             "tokenizer comes with its processor=)")
        return extract_images(model, routed["images"], processor=routed["processor"], batch_size=batch_size,
                              layers=layers, heads=heads, hidden_states=hidden_states, dtype=dtype,
                              progress=progress, queries=queries, reduce_heads=reduce_heads, out=out,
                              shard_size=shard_size, texts=routed["texts"])
    model, tokenizer = resolve_model(model, tokenizer)
    texts = as_texts(texts, "texts")
    pairs = None if text_pairs is None else as_texts(text_pairs, "text_pairs", len(texts))
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported: use one of {DTYPES}")
    check_count(batch_size, "batch_size")
    if max_length is not None:
        check_count(max_length, "max_length")
    for flag, value in (("hidden_states", hidden_states), ("progress", progress)):
        if not isinstance(value, (bool, np.bool_)) and not (flag == "progress" and value is None):
            raise TypeError(f"{flag}={value!r}: pass True or False")
    cfg = model.config
    check_tokenizer(model, tokenizer)
    enc_dec = bool(getattr(cfg, "is_encoder_decoder", False))
    targets = decoder_targets(tokenizer, cfg, enc_dec, decoder_texts, labels, len(texts))
    limit = max_length or max_positions(model, tokenizer)
    encoded = tokenize_texts(tokenizer, texts, pairs, limit)
    check_vocabulary(model, encoded, targets)
    keep_layers, keep_heads = check_selection(model, layers, heads, queries, reduce_heads,
                                              [len(e["input_ids"]) for e in encoded])
    side = padding_side_for(model, padding_side or getattr(tokenizer, "padding_side", "right"), enc_dec)
    if padding_side == "left" and side != "left":
        warnings.warn(f"padding_side='left' is not possible for this {type(model).__name__} "
                      f"({'an encoder-decoder model' if enc_dec else 'its forward takes no position_ids'}): "
                      "it uses right padding, which gives the same maps (padding is removed)",
                      UserWarning, stacklevel=2)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    digest = texts if pairs is None and targets is None else {"texts": texts, "pairs": pairs, "targets": targets}
    writer = open_writer(out, digest, shard_size, model=model, selection_model=model, dtype=dtype,
                         reduce_heads=reduce_heads, queries=queries, keep_layers=keep_layers, keep_heads=keep_heads)

    def run_batch(run: BatchRunner, batch: list[int]) -> list[Example]:
        dec = [targets[i] for i in batch] if targets is not None else None
        examples = run([encoded[i] for i in batch], dec)
        for i, ex in zip(batch, examples, strict=True):
            ex.text = texts[i]
            ex.text_pair = pairs[i] if pairs else None
            ex.decoder_text = decoder_texts[i] if isinstance(decoder_texts, list) else None
        return examples

    return run_batches(model, [len(e["input_ids"]) for e in encoded], batch_size=batch_size, writer=writer,
                       progress=progress, run_batch=run_batch, wrap=lambda run, exs: _wrap(model, run, exs, dtype),
                       make_runner=lambda streaming: BatchRunner(model, tokenizer, keep_layers, keep_heads,
                                                                 hidden_states, dtype, side, pad_id,
                                                                 streaming=streaming, queries=queries,
                                                                 reduce_heads=reduce_heads),
                       stacklevel=3)


def extract_ids(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[dict],
    targets: Sequence[Sequence[int]] | None = None,
    *,
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    hidden_states: bool = True,
    dtype: str = "float32",
    queries: str | int | Sequence[int] | slice | None = None,
    reduce_heads: str | None = None,
) -> Capture:
    """:func:`extract` from token ids already made: one forward pass (one batch), no text, no tokenizing.

    ``items`` are dicts with ``input_ids`` (as :func:`~attnviz.extraction.inputs.tokenize_texts`
    gives them); ``targets`` the decoder input ids of an encoder-decoder model, one list per item,
    used as they are (the decoder start token included, nothing shifted). ``layers``, ``heads``,
    ``queries``, ``reduce_heads``, ``hidden_states`` and ``dtype`` mean what they mean for
    :func:`extract`, with the same checks, and the same per-layer path (only the kept layers, heads
    and rows are computed). The examples' ``text`` fields stay empty: the caller fills them.
    Used by :func:`attnviz.extract_generation` for its teacher-forced pass over the final sequence.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2", head="lm")
        >>> cap = extract_ids(model, tok, [{"input_ids": [5, 6, 7, 8]}], layers=[1], queries="last")
        >>> cap.layers, cap[0].attentions.shape, cap[0].query_positions
        ([1], (1, 4, 1, 4), [3])
    """
    items = list(items)
    if not items or any(not item.get("input_ids") for item in items):
        raise ValueError("extract_ids needs at least one item, each with a non-empty input_ids list")
    enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
    if enc_dec != (targets is not None) or (targets is not None and len(targets) != len(items)):
        raise ValueError("pass targets= (decoder input ids, one list per item) for an encoder-decoder "
                         "model, and only for one")
    targets = None if targets is None else [[int(t) for t in seq] for seq in targets]
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported: use one of {DTYPES}")
    keep_layers, keep_heads = check_selection(model, layers, heads, queries, reduce_heads,
                                              [len(item["input_ids"]) for item in items])
    check_vocabulary(model, items, targets)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def run_all(streaming: bool):
        run = BatchRunner(model, tokenizer, keep_layers, keep_heads, hidden_states, dtype, "right", pad_id,
                          streaming=streaming, queries=queries, reduce_heads=reduce_heads)
        with inspection_mode(model, implementation=STREAMING if streaming else "eager"):
            return run, run(items, targets)

    run, examples = streaming_or_eager(run_all, stacklevel=4)
    return _wrap(model, run, examples, dtype)


def _wrap(model: Any, run: BatchRunner, examples: list, dtype: str) -> Capture:
    """The Capture of examples computed by ``run`` (kept layers/heads, row options, implementation)."""
    enc_dec = bool(getattr(model.config, "is_encoder_decoder", False))
    return capture_from(model, examples, num_layers=run.num_layers, num_heads=run.num_heads,
                        layers=run.kept_layers, heads=run.heads, dtype=dtype,
                        decoder_layers=run.kept_decoder_layers if enc_dec else None,
                        num_decoder_layers=run.num_decoder_layers,
                        attn_implementation=STREAMING if run.streaming else "eager",
                        queries=query_spec_json(run.queries), reduce_heads=run.reduce)
