"""Checks and the run policy shared by every extraction entry point (texts, generation, images).

:func:`check_selection` checks ``layers``/``heads``/``queries``/``reduce_heads`` before any model
runs; :func:`streaming_or_eager` runs layer by layer and falls back to eager attention, with a
warning, where a model bypasses the attention interface; :func:`progress_bar` is the bar.

Example:
    >>> from attnviz.testing import tiny_model
    >>> check_selection(tiny_model("bert")[0], [1], [0, 2], None, None, [4])
    ([1], [0, 2])
"""
from __future__ import annotations

__all__ = ["check_row_options", "check_selection", "progress_bar", "streaming_or_eager"]

import warnings
from typing import Any, Sequence

from attnviz.extraction.batching import StreamingUnavailable
from attnviz.extraction.inputs import select_indices
from attnviz.extraction.streaming import register as register_streaming
from attnviz.extraction.streaming import resolve_queries
from attnviz.families import model_dims
from attnviz.modeling import AttentionUnavailableError


def check_selection(model: Any, layers: Any, heads: Any, queries: Any, reduce_heads: Any,
                    lengths: Sequence[int]) -> tuple[list[int] | None, list[int] | None]:
    """Check ``layers``/``heads``/``queries``/``reduce_heads`` as :func:`extract` does, before any model runs.

    ``lengths`` are the token counts the queries must fit. Returns the kept layer and head
    indices (sorted, unique; None for all).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> check_selection(tiny_model("gpt2")[0], [1, 0, 1], None, "last", "mean", [5])
        ([0, 1], None)
    """
    dims = model_dims(model.config)
    keep_layers = select_indices(layers, dims["layers"], "layer")
    keep_heads = select_indices(heads, dims["heads"], "head")
    check_row_options(queries, reduce_heads, bool(getattr(model.config, "is_encoder_decoder", False)),
                       list(lengths))
    return keep_layers, keep_heads


def streaming_or_eager(run_all: Any, stacklevel: int) -> Any:
    """``run_all(streaming=True)``; where the model's attention bypasses the interface, eager with a warning.

    Example:
        >>> streaming_or_eager(lambda streaming: "layer by layer" if streaming else "eager", stacklevel=2)
        'layer by layer'
    """
    register_streaming()
    try:
        return run_all(streaming=True)
    except (AttentionUnavailableError, StreamingUnavailable) as exc:
        from attnviz.extraction.streaming import EDITS

        if EDITS.get() is not None:  # eager attention would bypass the edits: no silent fallback
            raise AttentionUnavailableError(f"extract inside attnviz.intervene needs attnviz's attention function, "
                                            f"which this model bypasses ({exc}); intervene cannot edit it") from exc
        warnings.warn(f"attnviz could not capture attention layer by layer ({exc}); it fell back to "
                      "output_attentions=True under eager attention, which holds every layer's maps at once",
                      UserWarning, stacklevel=stacklevel)
        return run_all(streaming=False)


def progress_bar(batches: list, progress: bool | None):
    """A tqdm bar over ``batches`` (``progress`` None: shown for more than 4 batches on a terminal).

    Example:
        >>> list(progress_bar([1, 2], False))
        [1, 2]
    """
    from tqdm.auto import tqdm

    show = progress if progress is not None else (len(batches) > 4 and None)
    return tqdm(batches, desc="extract", unit="batch", disable=show is False, leave=False)


def check_row_options(queries: Any, reduce: str | None, enc_dec: bool, lengths: list[int]) -> None:
    """Check queries= against every text's length and reduce_heads= before any model runs.

    Example:
        >>> check_row_options("last", "mean", False, [3, 5]) is None
        True
    """
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
