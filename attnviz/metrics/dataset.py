"""``dataset_stats``: per-head statistics over any number of texts, with bounded memory.

Texts stream in (see :func:`~attnviz.metrics.sources.iter_texts`), are tokenized a
window at a time, sorted by length inside the window (less padding), run through the
model in batches under :func:`~attnviz.modeling.inspection_mode`, and each batch's
attention maps are reduced on the spot by the vectorised kernel
(:mod:`attnviz.metrics.kernel`) into running means and standard deviations
(:mod:`attnviz.metrics.online`). No attention map outlives its batch, so memory does
not grow with the number of texts. Each layer's weights are computed in place where the
family's attention is plain scaled dot product (:mod:`attnviz.extraction.direct`), else
with its eager function.

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert")
    >>> stats = dataset_stats(model, (f"text number {i}." for i in range(20)),
    ...                       batch_size=8, progress=False, tokenizer=tok)
    >>> stats.num_examples, stats.values["sep"].shape
    (20, (2, 4))
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable

from attnviz.distributed import check_engine, ray_dataset_stats
from attnviz.metrics.definitions import check_metrics
from attnviz.metrics.sources import iter_texts
from attnviz.metrics.stats import HeadStats
from attnviz.metrics.stream import WINDOW_BATCHES, Stream
from attnviz.modeling import (
    ModelLike,
    Tokenizer,
    max_positions,
    model_data_call,
    resolve_model,
)


@model_data_call("texts_or_dataset")
def dataset_stats(model: ModelLike, texts_or_dataset: Any, *, tokenizer: Tokenizer = None, batch_size: int = 16,
                  metrics: Iterable[str] | str | None = None, max_length: int | None = None,
                  text_column: str = "text", progress: bool | None = None, engine: str = "local",
                  num_workers: int | None = None, worker_resources: dict | None = None,
                  address: str | None = None) -> HeadStats:
    """Mean and std per head of the statistics of :func:`~attnviz.metrics.head_stats`, over a data set.

    Args:
        model: a loaded model (any head; encoder-decoders give their encoder's
            self-attention), or a local model folder.
        texts_or_dataset: a list or generator of texts, a .txt/.csv/.jsonl file path, or a
            ``datasets.Dataset`` / streaming ``IterableDataset`` (its ``text_column``).
        tokenizer: its tokenizer (None: loaded from beside the model).
        batch_size: texts per forward pass.
        metrics: statistic names (default: all, see :mod:`attnviz.metrics.definitions`).
        max_length: truncate longer texts (default: the model's maximum), with one warning.
        progress: show a tqdm progress bar (None: on a terminal).
        engine: "local" (this process, the default) or "ray": Ray Data actors that each load
            the model once, see :mod:`attnviz.distributed` (needs ``attnviz[ray]``); both give
            the same numbers up to float rounding. Also takes a ``ray.data.Dataset``.
        num_workers / worker_resources / address: for ``engine="ray"``: the number of actors
            (default: as many as the cluster holds), each one's resources as in ``ray.remote``
            (e.g. ``{"num_gpus": 1}``), and the cluster to join (``"auto"``, ``"ray://host:10001"``;
            default: the running Ray, else a local one).

    The result equals ``head_stats(extract(model, texts, tokenizer=tokenizer))`` up to float
    rounding, without ever holding more than one batch of attention maps.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2")
        >>> s = dataset_stats(model, ["a b c", "hello world"], metrics=["sink"], progress=False, tokenizer=tok)
        >>> s.metrics, s.num_examples
        (['sink'], 2)
    """
    if texts_or_dataset is None:
        raise TypeError("dataset_stats needs texts: dataset_stats(model, texts), with tokenizer= "
                        "where the tokenizer is not saved beside the model")
    if check_engine(engine) == "ray":  # the workers load the model from a folder
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        return ray_dataset_stats(model, tokenizer, texts_or_dataset, batch_size=batch_size,
                                 metrics=check_metrics(metrics), max_length=max_length, text_column=text_column,
                                 progress=progress, num_workers=num_workers, worker_resources=worker_resources,
                                 address=address)
    model, tokenizer = resolve_model(model, tokenizer)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    chosen = check_metrics(metrics)
    texts, total = iter_texts(texts_or_dataset, text_column=text_column)
    stream = Stream(model, tokenizer, chosen, max_length or max_positions(model, tokenizer))
    from tqdm.auto import tqdm

    with stream.mode, tqdm(total=total, desc="dataset_stats", unit="text",
                           disable=progress is False if progress is not None else None, leave=False) as bar:
        while True:
            window = list(itertools.islice(texts, batch_size * WINDOW_BATCHES))
            if not window:
                break
            for done in stream.run_window(window, batch_size):
                bar.update(done)
    result = stream.result()
    del stream
    trim_heap()
    return result


def trim_heap() -> None:
    """Give the C heap's free pages back to the system (glibc ``malloc_trim``; elsewhere nothing).

    A run allocates one batch's padded maps per layer at many sizes; glibc keeps the freed
    blocks, so a notebook cell that calls :func:`dataset_stats` again and again saw its
    resident memory grow (MiniLM: +19% over 100 calls, ``benchmarks/bench_memory.py``) though
    nothing stayed alive. Trimming at the end of each call keeps it flat.

    Example:
        >>> trim_heap()
    """
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to trim
        pass
