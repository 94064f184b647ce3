"""Which tokens count as [CLS], [SEP], punctuation and sentence boundaries.

The rules, for every model family:

* **[CLS] / first token**: the first real token. In BERT that is ``[CLS]``, in
  RoBERTa/BART ``<s>``; models without a classification token (GPT-2, T5) get their
  first token, which is where decoders put their attention sink.
* **[SEP] / last token**: when the last real token is a special token (``[SEP]``,
  ``</s>``, ``<|endoftext|>``), every special token with the same string, so a BERT
  sentence pair counts both of its ``[SEP]`` tokens (RoBERTa's ``</s></s>`` all
  three). Otherwise (GPT-2 text without an end token) the last token.
* **punctuation** (``punct``): Clark et al.'s (2019) definition, a non-special token whose
  readable form is ``.`` or ``,`` (their code: ``token == "." or token == ","``).
* **Unicode punctuation** (``punct_unicode``, attnviz's own, broader): a non-special token
  whose readable form is made only of Unicode punctuation or symbols (``.``, ``,``, ``!``,
  ``'``, ``--``, ``$`` ...).
* **sentence boundaries** (for the ``block`` score): the [SEP] tokens and the
  sentence-final punctuation ``.``, ``!``, ``?``, ``;``; a boundary ends its segment.

Example:
    >>> roles = token_roles(["[CLS]", "hi", "!", ",", "[SEP]"], [True, False, False, False, True])
    >>> roles["first"].tolist(), roles["sep"].tolist()
    ([True, False, False, False, False], [False, False, False, False, True])
    >>> roles["punct"].tolist(), roles["punct_unicode"].tolist()
    ([False, False, False, True, False], [False, False, True, True, False])
"""
from __future__ import annotations

import unicodedata
from typing import Sequence

import numpy as np

SENTENCE_END = frozenset({".", "!", "?", ";", "...", "…"})
#: Clark et al.'s (2019) punctuation: their code tests ``token == "." or token == ","``.
CLARK_PUNCT = frozenset({".", ","})


def is_punctuation(display: str) -> bool:
    """True when a readable token is made only of punctuation or symbol characters.

    Example:
        >>> is_punctuation("."), is_punctuation("--"), is_punctuation("a."), is_punctuation("␣")
        (True, True, False, False)
    """
    text = display.strip()
    if not text or text in ("␣", "∅"):
        return False
    return all(unicodedata.category(ch)[0] in "PS" for ch in text)


def token_roles(tokens: Sequence[str], special: Sequence[bool],
                display: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Boolean masks ``first``, ``sep``, ``punct``, ``punct_unicode``, ``special`` and ``boundary`` per token.

    ``tokens`` are the raw tokens, ``special`` the special-token mask and ``display``
    the readable forms (default: the raw tokens); see the module docstring for the rules.

    Example:
        >>> r = token_roles(["[CLS]", "a", "[SEP]", "b", "[SEP]"], [1, 0, 1, 0, 1])
        >>> r["sep"].tolist()
        [False, False, True, False, True]
        >>> token_roles(["Hello", "world"], [False, False])["sep"].tolist()
        [False, True]
    """
    n = len(tokens)
    if n == 0:
        raise ValueError("an example has no tokens: extract from non-empty texts")
    if len(special) != n:
        raise ValueError(f"special mask has {len(special)} entries for {n} tokens: pass one per token")
    display = list(tokens) if display is None else list(display)
    special_arr = np.asarray(special, dtype=bool)
    first = np.zeros(n, dtype=bool)
    first[0] = True
    if special_arr[-1]:
        sep = special_arr & (np.asarray(tokens, dtype=object) == tokens[-1])
        if n > 1 and first[0] and sep[0]:  # a one-string special set (e.g. GPT-2 <|endoftext|> at both ends)
            sep[0] = False
    else:
        sep = np.zeros(n, dtype=bool)
        sep[-1] = True
    broad = np.array([not s and is_punctuation(d) for s, d in zip(special_arr, display)], dtype=bool)
    clark = np.array([not s and d.strip() in CLARK_PUNCT for s, d in zip(special_arr, display)], dtype=bool)
    end = np.array([d.strip() in SENTENCE_END for d in display], dtype=bool) & broad
    boundary = (sep & special_arr) | end
    return {"first": first, "sep": sep, "punct": clark, "punct_unicode": broad, "special": special_arr,
            "boundary": boundary, "induction_key": induction_keys(tokens), "tokens": list(tokens)}


def induction_keys(tokens: Sequence[str]) -> np.ndarray:
    """Per query i: the position after the previous occurrence of token i, or -1 (the ``induction`` key).

    With p the last position before i holding the same token, the key is p + 1 when
    p + 1 < i (Olsson et al. 2022; a token repeated at once has no key but itself).

    Example:
        >>> induction_keys(["a", "b", "c", "a", "b", "b"]).tolist()
        [-1, -1, -1, 1, 2, -1]
    """
    last: dict[str, int] = {}
    keys = np.full(len(tokens), -1, dtype=np.int64)
    for i, token in enumerate(tokens):
        p = last.get(token)
        if p is not None and p + 1 < i:
            keys[i] = p + 1
        last[token] = i
    return keys


def patch_centres(n: int, patch_grid: tuple[int, int], patch_positions: Sequence[int] | np.ndarray,
                  image_shape: Sequence[int] | None = None) -> np.ndarray:
    """(n, 2) centres (y, x) of the image patches in pixels, NaN for the other tokens.

    Pixels of the image as the model saw it (``image_shape``, its height and width); without
    it, patch units (a patch is 1 x 1).

    Example:
        >>> patch_centres(3, (1, 2), [1, 2], (16, 32)).tolist()
        [[nan, nan], [8.0, 8.0], [8.0, 24.0]]
    """
    rows, cols = patch_grid
    height, width = (rows, cols) if image_shape is None else (image_shape[0], image_shape[1])
    out = np.full((n, 2), np.nan)
    index = np.arange(rows * cols)
    out[np.asarray(patch_positions, dtype=np.int64)] = np.stack(
        [(index // cols + 0.5) * height / rows, (index % cols + 0.5) * width / cols], axis=1)
    return out
