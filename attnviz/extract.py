"""``extract``: run a Hugging Face model on texts and capture attention and hidden states.

The model runs in eval mode, under ``torch.no_grad()``, with eager attention (see
:func:`attnviz.modeling.inspection_mode`), in batches. Each example's maps are
cropped to its real tokens, so no [PAD] row or column survives, and everything is
moved to the CPU as numpy.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert")
    >>> cap = attnviz.extract(model, tok, ["the cat sat on the mat", "hello"], batch_size=2)
    >>> cap[1].tokens
    ['[CLS]', 'hello', '[SEP]']
    >>> cap[1].attentions.shape
    (2, 4, 3, 3)
"""
from __future__ import annotations

__all__ = ["capture_from", "extract"]

import inspect
import os
import warnings
from typing import Any, Sequence

import numpy as np

from attnviz import __version__ as _version
from attnviz.batching import BatchRunner, StreamingUnavailable
from attnviz.capture import Capture, Example
from attnviz.modeling import AttentionUnavailableError, inspection_mode, load_model, max_positions, tokenizer_for
from attnviz.streaming import NAME as STREAMING
from attnviz.streaming import query_spec_json, resolve_queries

DTYPES = ("float32", "float16")


def extract(
    model: Any,
    tokenizer: Any = None,
    texts: str | Sequence[str] = (),
    *,
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
) -> Capture:
    """Run ``model`` on ``texts`` and return a :class:`~attnviz.Capture`.

    Args:
        model: a loaded ``PreTrainedModel`` (any head), or a local folder to load with
            the Auto classes (the tokenizer is then loaded from it when ``None``).
        tokenizer: the model's tokenizer, or None to load it from beside the model.
        texts: one string or a list of strings.
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

    Only the kept layers, heads and rows are ever computed: the model runs with attnviz's
    own attention function (:mod:`attnviz.streaming`), which computes every layer's output
    with sdpa and the weights only where they are kept, block by block. Models whose
    attention does not go through transformers' attention interface fall back to
    ``output_attentions=True`` with a warning.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("t5", head="lm")
        >>> cap = extract(model, tok, "the cat sat", decoder_texts="le chat")
        >>> ex = cap[0]
        >>> ex.cross_attentions.shape[2:] == (len(ex.decoder_tokens), len(ex.encoder_tokens))
        True
    """
    _check_model_arg(model)
    if isinstance(model, (str, os.PathLike)):
        model, loaded_tok = load_model(model)
        tokenizer = tokenizer or loaded_tok
    elif tokenizer is None:
        tokenizer = tokenizer_for(model)
    texts = _as_list(texts, "texts")
    pairs = None if text_pairs is None else _as_list(text_pairs, "text_pairs", len(texts))
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise ValueError(f"dtype={dtype!r} is not supported: use one of {DTYPES}")
    _check_count(batch_size, "batch_size")
    if max_length is not None:
        _check_count(max_length, "max_length")
    for flag, value in (("hidden_states", hidden_states), ("progress", progress)):
        if not isinstance(value, (bool, np.bool_)) and not (flag == "progress" and value is None):
            raise TypeError(f"{flag}={value!r}: pass True or False")
    cfg = model.config
    check_tokenizer(model, tokenizer)
    enc_dec = bool(getattr(cfg, "is_encoder_decoder", False))
    targets = _decoder_targets(tokenizer, cfg, enc_dec, decoder_texts, labels, len(texts))
    limit = max_length or max_positions(model, tokenizer)
    encoded = tokenize_texts(tokenizer, texts, pairs, limit)
    check_vocabulary(model, encoded, targets)
    dims = _model_dims(cfg)
    keep_layers = _subset(layers, dims["layers"], "layer")
    keep_heads = _subset(heads, dims["heads"], "head")
    _check_row_options(queries, reduce_heads, enc_dec, [len(e["input_ids"]) for e in encoded])
    side = padding_side_for(model, padding_side or getattr(tokenizer, "padding_side", "right"), enc_dec)
    if padding_side == "left" and side != "left":
        warnings.warn(f"padding_side='left' is not possible for this {type(model).__name__} "
                      f"({'an encoder-decoder model' if enc_dec else 'its forward takes no position_ids'}): "
                      "it uses right padding, which gives the same maps (padding is removed)",
                      UserWarning, stacklevel=2)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    options = dict(queries=queries, reduce_heads=reduce_heads)
    writer = None
    if out is not None:  # write shard by shard; each shard's texts are batched by length
        from attnviz.store import CaptureWriter

        writer = CaptureWriter(out, texts=texts if pairs is None and targets is None else
                               {"texts": texts, "pairs": pairs, "targets": targets}, shard_size=shard_size)
        writer.check_settings({"model_name": _model_name(model), "dtype": dtype, "reduce_heads": reduce_heads,
                               "queries": query_spec_json(queries),
                               "layers": keep_layers or (list(range(dims["layers"])) if dims["layers"] else None),
                               "heads": keep_heads or (list(range(dims["heads"])) if dims["heads"] else None)})

    def plan() -> list[tuple[list[int], int | None]]:
        """(batch, shard finished by it or None); without ``out`` one group of every text."""
        groups = [(list(range(len(texts))), None)] if writer is None else \
            [(list(range(*writer.shard_range(k))), k) for k in range(writer.num_shards) if not writer.done(k)]
        steps = []
        for group, shard in groups:
            order = sorted(group, key=lambda i: len(encoded[i]["input_ids"]))
            cuts = list(range(0, len(order), batch_size))
            steps += [(order[s:s + batch_size], shard if s == cuts[-1] else None) for s in cuts]
        return steps

    def wrap(run, exs):
        return capture_from(model, exs, num_layers=run.num_layers, num_heads=run.num_heads,
                            layers=run.kept_layers, heads=run.heads, dtype=dtype,
                            decoder_layers=run.kept_decoder_layers if enc_dec else None,
                            num_decoder_layers=run.num_decoder_layers,
                            attn_implementation=STREAMING if run.streaming else "eager",
                            queries=query_spec_json(queries), reduce_heads=reduce_heads)

    def run_all(streaming: bool):
        run = BatchRunner(model, tokenizer, keep_layers, keep_heads, hidden_states, dtype, side, pad_id,
                          streaming=streaming, **options)
        examples: list[Example | None] = [None] * len(texts)
        with inspection_mode(model, implementation=STREAMING if streaming else "eager"):
            for batch, shard in _progress(plan(), progress):
                items = [encoded[i] for i in batch]
                dec = [targets[i] for i in batch] if targets is not None else None
                for i, ex in zip(batch, run(items, dec)):
                    ex.text = texts[i]
                    ex.text_pair = pairs[i] if pairs else None
                    ex.decoder_text = decoder_texts[i] if isinstance(decoder_texts, list) else None
                    examples[i] = ex
                if shard is not None:  # the shard is complete: write it, drop it from memory
                    start, stop = writer.shard_range(shard)
                    writer.add_shard(wrap(run, examples[start:stop]), shard)
                    examples[start:stop] = [None] * (stop - start)
        return run, examples

    try:
        run, examples = run_all(streaming=True)
    except (AttentionUnavailableError, StreamingUnavailable) as exc:
        warnings.warn(f"attnviz could not capture attention layer by layer ({exc}); it fell back to "
                      "output_attentions=True under eager attention, which holds every layer's maps at once",
                      UserWarning, stacklevel=2)
        run, examples = run_all(streaming=False)
    if writer is not None:
        from attnviz.capture import load

        return load(writer.close(), lazy=True)
    return wrap(run, examples)


def _progress(batches: list, progress: bool | None):
    from tqdm.auto import tqdm

    show = progress if progress is not None else (len(batches) > 4 and None)
    return tqdm(batches, desc="extract", unit="batch", disable=show is False, leave=False)


def _check_row_options(queries: Any, reduce: str | None, enc_dec: bool, lengths: list[int]) -> None:
    """Check queries= against every text's length and reduce_heads= before any model runs."""
    if reduce not in (None, "mean", "max"):
        raise ValueError(f"reduce_heads={reduce!r}: use 'mean', 'max' or None")
    if queries is None:
        return
    if enc_dec:
        raise ValueError("queries= is not supported for encoder-decoder models yet: extract every row "
                         "(queries=None) and index the rows you need")
    for i, n in enumerate(lengths):
        try:
            resolve_queries(queries, n)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"text {i}: {exc}") from None


# --- inputs -----------------------------------------------------------------------------
def _check_model_arg(model: Any) -> None:
    if isinstance(model, (str, os.PathLike)) and not isinstance(model, bytes):
        return
    if getattr(model, "config", None) is None or not callable(model):
        raise TypeError(f"model is a {type(model).__name__}, not a transformers model: pass a loaded model "
                        "(e.g. AutoModel.from_pretrained(path)) or the path of a local model folder")


def _check_count(value: Any, name: str) -> None:
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r}: pass a whole number of at least 1")
    if value < 1:
        raise ValueError(f"{name}={value} is too small: pass a whole number of at least 1"
                         + (" (or None for the model's maximum)" if name == "max_length" else ""))


def _as_list(values: Any, name: str, expected: int | None = None) -> list[str]:
    if isinstance(values, (bytes, bytearray)):
        raise TypeError(f"{name} is bytes, not a string: decode it first, e.g. {name}.decode('utf-8')")
    if isinstance(values, str):
        values = [values]
    if values is None or isinstance(values, dict) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} is a {type(values).__name__}: pass a string or a list of strings")
    values = list(values)
    if not values:
        raise ValueError(f"{name} is empty: pass at least one text, e.g. extract(model, tok, 'a sentence')")
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise TypeError(f"{name}[{i}] is a {type(v).__name__}, not a string: pass texts as str")
        if not v.strip():
            raise ValueError(f"{name}[{i}] is an empty string: remove it or give it some text")
    if expected is not None and len(values) != expected:
        raise ValueError(f"{name} has {len(values)} entries but there are {expected} texts: give one per text")
    return values


def tokenize_texts(tokenizer: Any, texts: list[str], pairs: list[str] | None, limit: int) -> list[dict]:
    """Tokenize texts (no padding), truncating to ``limit`` with a warning that counts the cut tokens.

    Returns one dict per text: input_ids (and token_type_ids), word_ids and offsets.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = tokenizer(texts, pairs, truncation=False, add_special_tokens=True)
    lengths = [len(ids) for ids in full["input_ids"]]
    long = [i for i, n in enumerate(lengths) if n > limit]
    if long:
        cut = sum(lengths[i] - limit for i in long)
        warnings.warn(
            f"{len(long)} of {len(texts)} text(s) are longer than {limit} tokens (the model's maximum "
            f"or max_length): {cut} token(s) were cut, e.g. text {long[0]} has {lengths[long[0]]}. "
            "Shorten the texts, or pass a larger max_length if the model allows it.",
            UserWarning, stacklevel=3)
        full = tokenizer(texts, pairs, truncation=True, max_length=limit, add_special_tokens=True)
    fast = getattr(tokenizer, "is_fast", False)
    keys = [k for k in ("input_ids", "token_type_ids") if k in full]
    items = []
    for i in range(len(texts)):
        item = {k: full[k][i] for k in keys}
        if fast:
            item["word_ids"] = full.word_ids(i)
            enc = full.encodings[i] if full.encodings else None
            item["offsets"] = [tuple(o) for o in enc.offsets] if enc is not None else None
        if not item["input_ids"]:
            raise ValueError(f"text {i} produced no tokens: give it some text the tokenizer knows")
        items.append(item)
    return items


def _decoder_targets(tokenizer, cfg, enc_dec, decoder_texts, labels, n) -> list[list[int]] | None:
    if not enc_dec:
        if decoder_texts is not None or labels is not None:
            raise ValueError("decoder_texts/labels are for encoder-decoder models; this model has no decoder input")
        return None
    if labels is None:
        if decoder_texts is None:
            raise ValueError(
                "an encoder-decoder model needs a decoder input: pass decoder_texts= (the target "
                "text, one per input) or labels=; or use attnviz.extract_generation to let it write one")
        decoder_texts = _as_list(decoder_texts, "decoder_texts", n)
        labels = tokenizer(text_target=decoder_texts)["input_ids"]
    labels = [list(map(int, seq)) for seq in labels]
    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries but there are {n} texts: give one per text")
    start = getattr(cfg, "decoder_start_token_id", None)
    if start is None:
        start = cfg.pad_token_id
    return [[int(start)] + seq[:-1] if seq else [int(start)] for seq in labels]


def check_vocabulary(model, encoded, targets) -> None:
    """Raise a ValueError when a token id is outside the model's vocabulary (wrong tokenizer)."""
    try:
        size = model.get_input_embeddings().num_embeddings
    except (AttributeError, NotImplementedError):
        return
    top = max(max(item["input_ids"]) for item in encoded)
    if targets:
        top = max(top, max(max(t) for t in targets))
    if top >= size:
        raise ValueError(
            f"the tokenizer produced token id {top}, but the model's vocabulary has only {size} "
            "entries: the tokenizer does not belong to this model. Load both from the same checkpoint.")


def check_tokenizer(model: Any, tokenizer: Any) -> None:
    """Raise a ValueError when ``tokenizer`` clearly belongs to another model.

    Checked against the model's config: the special-token ids (padding, start, end: two or
    more that disagree mean another tokenizer, e.g. a BERT tokenizer with a RoBERTa model) and
    the vocabulary (a special token whose id is beyond the model's embedding table).
    """
    if not callable(tokenizer):
        raise TypeError(f"tokenizer is a {type(tokenizer).__name__}, not a tokenizer: pass the model's "
                        "tokenizer (AutoTokenizer.from_pretrained(path)) or None to load it from beside the model")
    cfg = model.config
    size = getattr(cfg, "vocab_size", None)
    if not isinstance(size, int) and hasattr(cfg, "get_text_config"):
        size = getattr(cfg.get_text_config(), "vocab_size", None)
    ids = {}
    for name in ("pad", "bos", "eos", "cls", "sep", "unk", "mask"):
        value = getattr(tokenizer, f"{name}_token_id", None)
        if isinstance(value, int):
            ids[name] = value
    if isinstance(size, int) and size > 0:
        top = max(ids.items(), key=lambda kv: kv[1], default=None)
        if top is not None and top[1] >= size:
            raise ValueError(f"the tokenizer's {top[0]} token has id {top[1]}, but the model's vocabulary has "
                             f"only {size} entries: the tokenizer does not belong to this model. Load both "
                             "from the same checkpoint.")
    pairs = [("pad", ids.get("pad"), getattr(cfg, "pad_token_id", None)),
             ("start", ids.get("bos", ids.get("cls")), getattr(cfg, "bos_token_id", None)),
             ("end", ids.get("eos", ids.get("sep")), getattr(cfg, "eos_token_id", None))]
    differ = []
    for what, mine, theirs in pairs:
        if mine is None or theirs is None:
            continue
        theirs_set = set(theirs) if isinstance(theirs, (list, tuple)) else {theirs}
        if mine not in theirs_set:
            differ.append(f"{what} token {mine} (model: {theirs})")
    if len(differ) >= 2:
        raise ValueError(f"the tokenizer's special tokens disagree with the model's config: {', '.join(differ)}; "
                         "the tokenizer does not belong to this model. Load both from the same checkpoint.")


def _model_dims(cfg) -> dict[str, int | None]:
    def first(*names):
        for name in names:
            value = getattr(cfg, name, None)
            if isinstance(value, int):
                return value
        return None

    return {"layers": first("num_hidden_layers", "n_layer", "num_layers", "encoder_layers", "n_layers"),
            "heads": first("num_attention_heads", "n_head", "num_heads", "encoder_attention_heads", "n_heads"),
            "decoder_layers": first("num_decoder_layers", "decoder_layers")}


def _subset(chosen: Sequence[int] | None, total: int | None, name: str) -> list[int] | None:
    import numbers

    if chosen is None:
        return None
    if isinstance(chosen, numbers.Integral) and not isinstance(chosen, bool):
        chosen = [chosen]
    if isinstance(chosen, (str, bytes)) or not hasattr(chosen, "__iter__"):
        raise TypeError(f"{name}s={chosen!r}: pass a list of {name} numbers (e.g. {name}s=[0, 1]) or None for all")
    chosen = list(chosen)
    wrong = [c for c in chosen if isinstance(c, bool) or not isinstance(c, numbers.Integral)]
    if wrong:
        raise TypeError(f"{name}s= holds {wrong[0]!r}, not a {name} number: pass whole numbers, e.g. {name}s=[0, 1]")
    chosen = [int(c) for c in chosen]
    if not chosen:
        raise ValueError(f"{name}s= is empty: pass at least one {name} index, or None for all")
    bad = [c for c in chosen if c < 0 or (total is not None and c >= total)]
    if bad:
        raise ValueError(f"{name} {bad[0]} is out of range: this model has {total} {name}s, "
                         f"numbered 0 to {total - 1}")
    return sorted(set(chosen))


def padding_side_for(model, requested: str, enc_dec: bool) -> str:
    """The padding side to use: left only where position ids can be passed (results stay exact)."""
    if requested not in ("left", "right"):
        raise ValueError(f"padding_side={requested!r}: use 'left' or 'right'")
    if requested == "left" and not enc_dec and "position_ids" in inspect.signature(model.forward).parameters:
        return "left"
    return "right"


def capture_from(model: Any, examples: list[Example], *, num_layers: int, num_heads: int,
                 layers: Sequence[int] | None = None, heads: Sequence[int] | None = None,
                 decoder_layers: Sequence[int] | None = None, num_decoder_layers: int | None = None,
                 dtype: str = "float32", extra: dict | None = None, attn_implementation: str = "eager",
                 queries: Any = None, reduce_heads: str | None = None) -> Capture:
    """Wrap ``examples`` made from ``model``'s outputs in a Capture with full provenance.

    ``layers``/``heads`` are the kept model indices (default: all); an encoder-decoder
    capture is recognised from its examples. Used by :func:`extract` and by
    :func:`attnviz.extract_generation`.

    Example:
        >>> import numpy as np
        >>> from attnviz.testing import tiny_model
        >>> model, _ = tiny_model("bert")
        >>> ex = Example(tokens=["a"], attentions=np.ones((2, 4, 1, 1), "float32"))
        >>> capture_from(model, [ex], num_layers=2, num_heads=4).layers
        [0, 1]
    """
    import torch
    import transformers

    cfg = model.config
    enc_dec = examples[0].is_encoder_decoder
    id2label = getattr(cfg, "id2label", None) if examples[0].logits is not None else None
    hidden = examples[0].hidden_states
    return Capture(
        examples=examples,
        model_name=_model_name(model),
        model_type=getattr(cfg, "model_type", ""),
        num_layers=int(num_layers), num_heads=int(num_heads),
        hidden_size=int(hidden.shape[-1]) if hidden is not None else int(getattr(cfg, "hidden_size", 0) or 0),
        layers=list(layers) if layers is not None else list(range(num_layers)),
        heads=list(heads) if heads is not None else list(range(num_heads)),
        decoder_layers=(list(decoder_layers) if decoder_layers is not None else list(range(num_decoder_layers or 0)))
        if enc_dec else None,
        num_decoder_layers=num_decoder_layers if enc_dec else None, is_encoder_decoder=enc_dec,
        is_decoder=bool(getattr(cfg, "is_decoder", False)) or (not enc_dec and _is_causal(model)),
        attn_implementation=attn_implementation, dtype=dtype, queries=queries, reduce_heads=reduce_heads,
        id2label={int(k): v for k, v in id2label.items()} if id2label else None,
        transformers_version=transformers.__version__, torch_version=torch.__version__,
        attnviz_version=_version,
        extra={"original_attn_implementation": getattr(cfg, "_attn_implementation", None), **(extra or {})},
    )


def _model_name(model) -> str:
    cfg = model.config
    return str(getattr(model, "name_or_path", "") or getattr(cfg, "_name_or_path", "") or type(model).__name__)


def _is_causal(model) -> bool:
    """Decoder-only language models (GPT-2, Llama...): their self-attention is causal."""
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    kind = getattr(model.config, "model_type", "")
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
