"""bertviz interop: :func:`to_bertviz` turns one example into bertviz's keyword arguments.

bertviz takes batch size 1, a tuple of per-layer torch tensors ``(1, heads, n, n)``
and a token list; for encoder-decoder models ``encoder_attention``,
``decoder_attention``, ``cross_attention``, ``encoder_tokens`` and ``decoder_tokens``.

Example:
    >>> from attnviz.testing import tiny_capture
    >>> cap = tiny_capture("bert", "the cat sat")
    >>> kw = to_bertviz(cap)
    >>> len(kw["attention"]), tuple(kw["attention"][0].shape), kw["tokens"][0]
    (2, (1, 4, 5, 5), '[CLS]')
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from attnviz.capture import Capture
from attnviz.notebook.payload import kinds_of, sentence_b_start

NOTEBOOK_EXTRA = "pip install 'attnviz[notebook]'"
NETWORK_WARNING = (
    "bertviz loads its scripts (require.js, d3, jQuery) from a CDN when a view is shown: without network "
    "access (offline machines, firewalled clusters, an exported or reopened notebook) its views stay blank "
    "('require is not defined'). attnviz's own views need no network: attnviz.notebook.head_view, "
    "model_view and explorer_view (they also save as standalone HTML)")
_warned = False


class BertvizNetworkWarning(UserWarning):
    """Warned once per session by :func:`to_bertviz`: bertviz needs network access for its scripts."""


def to_bertviz(capture: Capture, example: int = 0, *, kind: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``bertviz.head_view`` / ``bertviz.model_view`` for one example.

    For encoder-only and decoder-only models: ``attention`` (a tuple with one
    float32 tensor ``(1, heads, n, n)`` per captured layer) and ``tokens`` (display
    forms). For encoder-decoders: ``encoder_attention``, ``decoder_attention``,
    ``cross_attention``, ``encoder_tokens`` and ``decoder_tokens``; ``kind="encoder"`` or
    ``"decoder"`` gives that side alone as ``attention``/``tokens``, ``kind="cross"``
    the cross attention alone. For a text pair (``extract(..., text_pairs=...)``) it adds
    ``sentence_b_start``, so bertviz offers its sentence-pair filter.

    The first call warns (:class:`BertvizNetworkWarning`, once per session) that bertviz
    loads its scripts from the network and renders blank offline; attnviz's
    :func:`~attnviz.notebook.head_view`, :func:`~attnviz.notebook.model_view` and
    :func:`~attnviz.notebook.explorer_view` work offline.

    Example:
        >>> import attnviz
        >>> from attnviz.testing import tiny_capture
        >>> cap = tiny_capture("t5", "the cat", head="lm", decoder_texts="le chat")
        >>> sorted(to_bertviz(cap))
        ['cross_attention', 'decoder_attention', 'decoder_tokens', 'encoder_attention', 'encoder_tokens']
    """
    if not isinstance(capture, Capture):
        raise TypeError(f"expected an attnviz Capture, got {type(capture).__name__}: "
                        "make one with attnviz.extract(model, texts)")
    ex = capture[example]
    ex.require_all_rows("bertviz")
    kinds = kinds_of(ex, kind)
    _warn_network()
    if not ex.is_encoder_decoder or (kind is not None and kinds[0] in ("encoder", "decoder")):
        name = kinds[0]
        out: dict[str, Any] = {"attention": _tensors(ex.attention(name)), "tokens": ex.axis_tokens(name)[0]}
        start = sentence_b_start(ex) if name in ("self", "encoder") else None
        if start is not None:
            out["sentence_b_start"] = start
        return out
    out = {"encoder_tokens": ex.side_tokens("self")[1], "decoder_tokens": ex.side_tokens("decoder")[1]}
    for name in kinds:
        out[f"{name}_attention"] = _tensors(ex.attention(name))
    return out


def _warn_network() -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(NETWORK_WARNING, BertvizNetworkWarning, stacklevel=3)


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
