"""Checks and the run policy shared by every extraction entry point (texts, generation, images).

:func:`check_selection` checks ``layers``/``heads``/``queries``/``reduce_heads`` before any model
runs; :func:`streaming_or_eager` runs layer by layer and falls back to eager attention, with a
warning, where a model bypasses the attention interface; :func:`progress_bar` is the bar;
:func:`open_writer`, :func:`plan_batches` and :func:`run_batches` are the batch loop itself (shard by
shard into a capture folder with ``out=``), shared by text and image extraction.

Example:
    >>> from attnviz.testing import tiny_model
    >>> check_selection(tiny_model("bert")[0], [1], [0, 2], None, None, [4])
    ([1], [0, 2])
"""
from __future__ import annotations

__all__ = ["check_row_options", "check_selection", "open_writer", "plan_batches", "progress_bar", "run_batches",
           "streaming_or_eager"]

import warnings
from typing import Any, Callable, Sequence

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


def open_writer(out: Any, digest: Any, shard_size: int, *, model: Any, selection_model: Any, dtype: str,
                reduce_heads: str | None, queries: Any, keep_layers: list[int] | None,
                keep_heads: list[int] | None) -> Any:
    """The capture folder's writer for ``out=`` (None without it), its settings checked against a resumed folder.

    ``digest`` is what identifies the inputs (the texts, or texts and image fingerprints);
    ``selection_model`` is the model whose layers and heads are kept (a VLM's language model).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model = tiny_model("bert")[0]
        >>> open_writer(None, ["a"], 8, model=model, selection_model=model, dtype="float32", reduce_heads=None,
        ...             queries=None, keep_layers=None, keep_heads=None) is None
        True
    """
    if out is None:
        return None
    from attnviz.extraction.streaming import query_spec_json
    from attnviz.modeling import model_fingerprint, model_name
    from attnviz.store import CaptureWriter

    dims = model_dims(selection_model.config)
    writer = CaptureWriter(out, texts=digest, shard_size=shard_size)
    writer.check_settings({"model_name": model_name(model), "model_fingerprint": model_fingerprint(model),
                           "dtype": dtype, "reduce_heads": reduce_heads, "queries": query_spec_json(queries),
                           "layers": keep_layers or list(range(dims["layers"] or 0)) or None,
                           "heads": keep_heads or list(range(dims["heads"] or 0)) or None})
    return writer


def plan_batches(lengths: Sequence[int], batch_size: int, writer: Any = None) -> list[tuple[list[int], int | None]]:
    """``(batch, shard finished by it or None)`` steps: inputs of one length together, shard by shard with a writer.

    Without a writer every input is one group; with one, only the shards not yet written.

    Example:
        >>> plan_batches([5, 3, 4], 2)
        [([1, 2], None), ([0], None)]
    """
    groups = [(list(range(len(lengths))), None)] if writer is None else \
        [(list(range(*writer.shard_range(k))), k) for k in range(writer.num_shards) if not writer.done(k)]
    steps: list[tuple[list[int], int | None]] = []
    for group, shard in groups:
        order = sorted(group, key=lambda i: lengths[i])
        steps += [(order[s:s + batch_size], shard if s + batch_size >= len(order) else None)
                  for s in range(0, len(order), batch_size)]
    return steps


def run_batches(model: Any, lengths: Sequence[int], *, batch_size: int, writer: Any, progress: bool | None,
                make_runner: Callable[[bool], Any], run_batch: Callable[[Any, list[int]], list],
                wrap: Callable[[Any, list], Any], stacklevel: int) -> Any:
    """Run every batch layer by layer (eager as the fallback) and return the Capture.

    ``make_runner(streaming)`` builds the batch runner, ``run_batch(runner, indices)`` gives the
    examples of one batch, ``wrap(runner, examples)`` makes a Capture of them. With a ``writer``
    each shard is written as soon as it is complete and dropped from memory, and a lazy Capture
    over the folder is returned.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model = tiny_model("bert")[0]
        >>> run_batches(model, [3, 2], batch_size=1, writer=None, progress=False,
        ...             make_runner=lambda streaming: None, run_batch=lambda run, batch: batch,
        ...             wrap=lambda run, examples: examples, stacklevel=2)
        [0, 1]
    """
    from attnviz.extraction.streaming import NAME as STREAMING
    from attnviz.modeling import inspection_mode

    def run_all(streaming: bool) -> tuple[Any, list]:
        run = make_runner(streaming)
        examples: list = [None] * len(lengths)
        with inspection_mode(model, implementation=STREAMING if streaming else "eager"):
            for batch, shard in progress_bar(plan_batches(lengths, batch_size, writer), progress):
                for i, ex in zip(batch, run_batch(run, batch), strict=True):
                    examples[i] = ex
                if shard is not None:  # the shard is complete: write it, drop it from memory
                    start, stop = writer.shard_range(shard)
                    writer.add_shard(wrap(run, examples[start:stop]), shard)
                    examples[start:stop] = [None] * (stop - start)
        return run, examples

    run, examples = streaming_or_eager(run_all, stacklevel=stacklevel + 1)
    if writer is not None:
        from attnviz.store import load

        return load(writer.close(), lazy=True)
    return wrap(run, examples)
