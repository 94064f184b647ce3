"""bertviz interop: :func:`to_bertviz` turns one example into bertviz's keyword arguments.

bertviz takes batch size 1, a tuple of per-layer torch tensors ``(1, heads, n, n)``
and a token list; for encoder-decoder models ``encoder_attention``,
``decoder_attention``, ``cross_attention``, ``encoder_tokens`` and ``decoder_tokens``.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> cap = attnviz.extract(*tiny_model("bert"), "the cat sat")
    >>> kw = to_bertviz(cap)
    >>> len(kw["attention"]), tuple(kw["attention"][0].shape), kw["tokens"][0]
    (2, (1, 4, 5, 5), '[CLS]')
"""
from __future__ import annotations

from typing import Any

import numpy as np

from attnviz.capture import Capture
from attnviz.notebook.payload import kinds_of

NOTEBOOK_EXTRA = "pip install 'attnviz[notebook]'"


def to_bertviz(capture: Capture, example: int = 0, *, kind: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``bertviz.head_view`` / ``bertviz.model_view`` for one example.

    For encoder-only and decoder-only models: ``attention`` (a tuple with one
    float32 tensor ``(1, heads, n, n)`` per captured layer) and ``tokens`` (display
    forms). For encoder-decoders: ``encoder_attention``, ``decoder_attention``,
    ``cross_attention``, ``encoder_tokens`` and ``decoder_tokens``; ``kind="encoder"`` or
    ``"decoder"`` gives that side alone as ``attention``/``tokens``, ``kind="cross"``
    the cross attention alone.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_model
        >>> cap = attnviz.extract(*tiny_model("t5", head="lm"), "the cat", decoder_texts="le chat")
        >>> sorted(to_bertviz(cap))
        ['cross_attention', 'decoder_attention', 'decoder_tokens', 'encoder_attention', 'encoder_tokens']
    """
    if not isinstance(capture, Capture):
        raise TypeError(f"expected an attnviz Capture, got {type(capture).__name__}: "
                        "make one with attnviz.extract(model, tokenizer, texts)")
    ex = capture[example]
    ex.require_all_rows("bertviz")
    kinds = kinds_of(ex, kind)
    if not ex.is_encoder_decoder or (kind is not None and kinds[0] in ("encoder", "decoder")):
        name = kinds[0]
        return {"attention": _tensors(ex.attention(name)), "tokens": ex.axis_tokens(name)[0]}
    encoder, decoder = ex.display_tokens, ex.decoder_display_tokens
    out: dict[str, Any] = {"encoder_tokens": list(encoder), "decoder_tokens": list(decoder)}
    for name in kinds:
        out[f"{name}_attention"] = _tensors(ex.attention(name))
    return out


def _tensors(array: np.ndarray) -> tuple:
    import torch

    data = np.asarray(array, dtype=np.float32)
    return tuple(torch.from_numpy(np.ascontiguousarray(layer))[None] for layer in data)


def require_bertviz():
    """Import bertviz, or raise an ImportError that says how to install it.

    Example:
        >>> require_bertviz().__name__
        'bertviz'
    """
    try:
        import bertviz
    except ImportError as exc:
        raise ImportError(f"bertviz is not installed: {NOTEBOOK_EXTRA}") from exc
    return bertviz
