"""Token display forms, special-token masks and word grouping.

Tokenizers write tokens in their own code: WordPiece marks word pieces with ``##``,
byte-level BPE (GPT-2, RoBERTa, BART) writes a space as ``Ġ`` and bytes of non-ASCII
letters as odd characters, SentencePiece (T5) writes a space as ``▁``. Labels on a
figure should show the text a reader recognises; :func:`display_tokens` makes them.

Example:
    >>> display_tokens(["[CLS]", "un", "##believ", "##able", "[SEP]"])
    ['[CLS]', 'un', 'believ', 'able', '[SEP]']
    >>> display_tokens(["ĠHello", "Ġworld", "Ċ"], byte_level=True)
    ['Hello', 'world', '\\\\n']
"""
from __future__ import annotations

__all__ = ["TokenTable", "display_token", "display_tokens", "group_words", "is_byte_level", "special_mask",
           "token_table"]

import functools
from typing import Any, Sequence

import numpy as np


@functools.lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's bytes-to-unicode table (byte-level BPE)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = printable[:]
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def is_byte_level(tokenizer: Any) -> bool:
    """True when ``tokenizer`` is a byte-level BPE tokenizer (GPT-2, RoBERTa, BART...).

    Example:
        >>> from attnviz.testing import tiny_tokenizer
        >>> is_byte_level(tiny_tokenizer("gpt2")), is_byte_level(tiny_tokenizer("bert"))
        (True, False)
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return hasattr(tokenizer, "byte_decoder")
    return "ByteLevel" in repr(backend.pre_tokenizer) or "ByteLevel" in repr(backend.decoder)


def display_token(token: str, *, byte_level: bool = False) -> str:
    """A readable form of one raw token (see :func:`display_tokens`).

    Example:
        >>> display_token("##ing"), display_token("▁the"), display_token("Ġcat", byte_level=True)
        ('ing', 'the', 'cat')
    """
    text = token
    if byte_level:
        decoder = _byte_decoder()
        if all(ch in decoder for ch in text):
            # a token holding part of a multi-byte letter shows its bytes (\xe2), so that
            # different partial tokens stay distinguishable on an axis
            text = bytes(decoder[ch] for ch in text).decode("utf-8", errors="backslashreplace")
    else:
        text = text.replace("Ġ", " ").replace("Ċ", "\n")
    if text.startswith("##") and len(text) > 2:
        text = text[2:]
    text = text.replace("▁", " ")
    stripped = text.strip(" ")
    if stripped == "":
        return "␣" if text else "∅"
    return stripped.replace("\n", "\\n").replace("\t", "\\t")


def display_tokens(tokens: Sequence[str], *, byte_level: bool = False) -> list[str]:
    """Readable forms of raw tokens for axis labels: ``##``, ``Ġ``, ``▁`` removed.

    Byte-level tokens are decoded back to their text (``byte_level=True``); a token
    that is only whitespace shows as ``␣``, a newline as ``\\n``.

    Example:
        >>> display_tokens(["▁The", "▁cat", "</s>"])
        ['The', 'cat', '</s>']
    """
    return [display_token(t, byte_level=byte_level) for t in tokens]


def special_mask(ids: Sequence[int], tokenizer: Any) -> list[bool]:
    """True for each id that is one of the tokenizer's special tokens.

    Example:
        >>> from attnviz.testing import tiny_tokenizer
        >>> tok = tiny_tokenizer("bert")
        >>> special_mask(tok("the cat")["input_ids"], tok)
        [True, False, False, True]
    """
    special = set(getattr(tokenizer, "all_special_ids", []) or [])
    return [int(i) in special for i in ids]


def group_words(word_ids: Sequence[int | None], matrix: np.ndarray, *, axis: str = "both",
                reduce: str = "mean") -> tuple[np.ndarray, list[int | None]]:
    """Merge the rows/columns of an attention map that belong to one word.

    Follows the usual convention for attention (Clark et al. 2019): over the
    *keys* of one word the weights are summed (so rows still sum to 1), over the
    *queries* of one word they are averaged (``reduce="mean"``). Tokens without a
    word id (special tokens) stay on their own.

    Returns the merged matrix and the word id of each remaining row/column.

    Example:
        >>> m = np.array([[0.5, 0.25, 0.25], [0.2, 0.4, 0.4], [0.1, 0.1, 0.8]])
        >>> merged, ids = group_words([0, 1, 1], m)
        >>> merged.round(2).tolist(), ids
        ([[0.5, 0.5], [0.15, 0.85]], [0, 1])
    """
    groups: list[list[int]] = []
    labels: list[int | None] = []
    for pos, wid in enumerate(word_ids):
        if wid is not None and labels and labels[-1] == wid:
            groups[-1].append(pos)
        else:
            groups.append([pos])
            labels.append(wid)
    out = np.asarray(matrix, dtype=np.float64)
    if axis in ("both", "key"):
        out = np.stack([out[..., g].sum(axis=-1) for g in groups], axis=-1)
    if axis in ("both", "query"):
        fn = np.mean if reduce == "mean" else np.max
        out = np.stack([fn(out[..., g, :], axis=-2) for g in groups], axis=-2)
    return out, labels


class TokenTable:
    """A table of how a tokenizer split texts: position, token, display form, id,
    special flag, word id and character span, one row per token.

    Shows as an HTML table in notebooks and as aligned text in a terminal.

    Example:
        >>> from attnviz.testing import tiny_tokenizer
        >>> table = token_table(tiny_tokenizer("bert"), "the cat")
        >>> [row["token"] for row in table.rows]
        ['[CLS]', 'the', 'cat', '[SEP]']
    """

    COLUMNS = ("example", "position", "token", "display", "id", "special", "word", "chars")

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def __str__(self) -> str:
        cells = [[str(r[c]) for c in self.COLUMNS] for r in self.rows]
        widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(self.COLUMNS)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(self.COLUMNS, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"TokenTable({len(self.rows)} tokens)"

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th>{c}</th>" for c in self.COLUMNS)
        body = "".join(
            "<tr" + (' style="color:#b35806"' if r["special"] else "") + ">"
            + "".join(f"<td>{html.escape(str(r[c]))}</td>" for c in self.COLUMNS) + "</tr>"
            for r in self.rows)
        return f'<table class="attnviz-tokens"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def token_table(tokenizer: Any, texts: str | Sequence[str], text_pairs: Sequence[str] | None = None) -> TokenTable:
    """Tokenize ``texts`` and return a :class:`TokenTable` of every token.

    The word ids and character spans come from fast tokenizers (``None`` otherwise),
    the special flags from the tokenizer's special ids, the display forms from
    :func:`display_tokens`.

    Example:
        >>> from attnviz.testing import tiny_tokenizer
        >>> print(token_table(tiny_tokenizer("bert"), "cat").rows[1]["chars"])
        (0, 3)
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    fast = getattr(tokenizer, "is_fast", False)
    enc = tokenizer(texts, text_pairs, return_offsets_mapping=fast)
    byte_level = is_byte_level(tokenizer)
    rows = []
    for i, ids in enumerate(enc["input_ids"]):
        tokens = tokenizer.convert_ids_to_tokens(ids)
        shown = display_tokens(tokens, byte_level=byte_level)
        specials = special_mask(ids, tokenizer)
        words = enc.word_ids(i) if fast else [None] * len(ids)
        spans = enc["offset_mapping"][i] if fast else [None] * len(ids)
        for pos, (tok, disp, tid, sp, w, ch) in enumerate(zip(tokens, shown, ids, specials, words, spans, strict=True)):
            rows.append({"example": i, "position": pos, "token": tok, "display": disp, "id": int(tid),
                         "special": sp, "word": w, "chars": tuple(ch) if ch is not None else None})
    return TokenTable(rows)
