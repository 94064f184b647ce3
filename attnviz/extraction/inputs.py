"""From texts to token ids: argument checks, tokenization, tokenizer/vocabulary checks, padding side.

These are the input steps that :func:`attnviz.extract`, :func:`attnviz.extract_generation`
and :func:`attnviz.metrics.dataset_stats` share; none of them runs the model.

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert")
    >>> items = tokenize_texts(tok, ["the cat sat"], None, limit=64)
    >>> tok.convert_ids_to_tokens(items[0]["input_ids"])
    ['[CLS]', 'the', 'cat', 'sat', '[SEP]']
    >>> padding_side_for(model, "left", enc_dec=False)
    'left'
"""
from __future__ import annotations

__all__ = ["as_texts", "check_count", "check_model_arg", "check_tokenizer", "check_vocabulary", "decoder_targets",
           "padding_side_for", "select_indices", "tokenize_texts"]

import inspect
import os
import warnings
from typing import Any, Sequence


def check_model_arg(model: Any) -> None:
    """Raise a TypeError unless ``model`` is a transformers model or a model folder's path.

    Example:
        >>> check_model_arg("./my-model")
        >>> check_model_arg(42)
        Traceback (most recent call last):
        TypeError: model is a int, not a transformers model: pass a loaded model ...
    """
    if isinstance(model, (str, os.PathLike)) and not isinstance(model, bytes):
        return
    if getattr(model, "config", None) is None or not callable(model):
        raise TypeError(f"model is a {type(model).__name__}, not a transformers model: pass a loaded model "
                        "(e.g. AutoModel.from_pretrained(path)) or the path of a local model folder")


def check_count(value: Any, name: str) -> None:
    """Raise unless ``value`` is a whole number of at least 1 (``name`` is the argument's name).

    Example:
        >>> check_count(0, "batch_size")
        Traceback (most recent call last):
        ValueError: batch_size=0 is too small: pass a whole number of at least 1
    """
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r}: pass a whole number of at least 1")
    if value < 1:
        raise ValueError(f"{name}={value} is too small: pass a whole number of at least 1"
                         + (" (or None for the model's maximum)" if name == "max_length" else ""))


def as_texts(values: Any, name: str, expected: int | None = None) -> list[str]:
    """One string or an iterable of non-empty strings as a list (``expected``: their required number).

    Example:
        >>> as_texts("a cat", "texts")
        ['a cat']
    """
    if isinstance(values, (bytes, bytearray)):
        raise TypeError(f"{name} is bytes, not a string: decode it first, e.g. {name}.decode('utf-8')")
    if isinstance(values, str):
        values = [values]
    if values is None or isinstance(values, dict) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} is a {type(values).__name__}: pass a string or a list of strings")
    values = list(values)
    if not values:
        raise ValueError(f"{name} is empty: pass at least one text, e.g. extract(model, 'a sentence')")
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

    Example:
        >>> from attnviz.testing import tiny_tokenizer
        >>> [len(item["input_ids"]) for item in tokenize_texts(tiny_tokenizer("bert"), ["the cat", "a"], None, 64)]
        [4, 3]
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


def decoder_targets(tokenizer, cfg, enc_dec, decoder_texts, labels, n) -> list[list[int]] | None:
    """Decoder inputs of an encoder-decoder: each target shifted right after the start token
    (None for other models, which must then get no ``decoder_texts``/``labels``).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("t5")
        >>> decoder_targets(tok, model.config, True, None, [[5, 6, 1]], 1)
        [[0, 5, 6]]
    """
    if not enc_dec:
        if decoder_texts is not None or labels is not None:
            raise ValueError("decoder_texts/labels are for encoder-decoder models; this model has no decoder input")
        return None
    if labels is None:
        if decoder_texts is None:
            raise ValueError(
                "an encoder-decoder model needs a decoder input: pass decoder_texts= (the target "
                "text, one per input) or labels=; or use attnviz.extract_generation to let it write one")
        decoder_texts = as_texts(decoder_texts, "decoder_texts", n)
        labels = tokenizer(text_target=decoder_texts)["input_ids"]
    labels = [list(map(int, seq)) for seq in labels]
    if len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries but there are {n} texts: give one per text")
    start = getattr(cfg, "decoder_start_token_id", None)
    if start is None:
        start = cfg.pad_token_id
    return [[int(start)] + seq[:-1] if seq else [int(start)] for seq in labels]


def check_vocabulary(model, encoded, targets) -> None:
    """Raise a ValueError when a token id is outside the model's vocabulary (wrong tokenizer).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> check_vocabulary(tiny_model("bert")[0], [{"input_ids": [2, 10**6]}], None)
        Traceback (most recent call last):
        ValueError: the tokenizer produced token id 1000000, but the model's vocabulary has only ...
    """
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

    Example:
        >>> from attnviz.testing import tiny_model
        >>> check_tokenizer(tiny_model("bert")[0], tiny_model("bert")[1])
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


def select_indices(chosen: Sequence[int] | None, total: int | None, name: str) -> list[int] | None:
    """Checked, sorted, unique layer/head indices out of ``total`` (``name``: "layer" or "head"); None stays None.

    Example:
        >>> select_indices([3, 1, 1], 4, "head")
        [1, 3]
    """
    import numbers

    if chosen is None:
        return None
    if isinstance(chosen, numbers.Integral) and not isinstance(chosen, bool):
        chosen = [int(chosen)]
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
        if total is None:
            raise ValueError(f"{name} {bad[0]} is out of range: {name} numbers start at 0")
        raise ValueError(f"{name} {bad[0]} is out of range: this model has {total} {name}s, "
                         f"numbered 0 to {total - 1}")
    return sorted(set(chosen))


def padding_side_for(model, requested: str | None, enc_dec: bool) -> str:
    """The padding side to use: left only where position ids can be passed (results stay exact).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> padding_side_for(tiny_model("t5")[0], "left", enc_dec=True)
        'right'
    """
    if requested not in ("left", "right"):
        raise ValueError(f"padding_side={requested!r}: use 'left' or 'right'")
    if requested == "left" and not enc_dec and "position_ids" in inspect.signature(model.forward).parameters:
        return "left"
    return "right"
