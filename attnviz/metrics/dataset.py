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

import contextlib
import itertools
import warnings
from typing import Any, Iterable

import numpy as np
import torch

from attnviz.distributed import check_engine, ray_dataset_stats
from attnviz.extraction.batching import BatchRunner, StreamingUnavailable
from attnviz.extraction.inputs import check_vocabulary, padding_side_for, tokenize_texts
from attnviz.extraction.streaming import NAME as STREAMING
from attnviz.extraction.streaming import Rows, Session
from attnviz.extraction.tokens import display_token, is_byte_level
from attnviz.metrics.definitions import check_metrics
from attnviz.metrics.kernel import TokenBatch, batch_values, token_batch
from attnviz.metrics.online import RunningStats
from attnviz.metrics.roles import token_roles
from attnviz.metrics.sources import iter_texts
from attnviz.metrics.stats import HeadStats
from attnviz.modeling import (
    AttentionUnavailableError,
    ModelLike,
    Tokenizer,
    check_attentions,
    inspection_mode,
    max_positions,
    model_data_call,
    resolve_model,
)

#: Texts tokenized and sorted by length together (in batches): bounds memory, cuts padding.
WINDOW_BATCHES = 16


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

    The result equals ``head_stats(extract(model, tokenizer, texts))`` up to float
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
    stream = _Stream(model, tokenizer, chosen, max_length or max_positions(model, tokenizer))
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


class _Stream:
    """State of one dataset_stats run: the runner, token-role cache and running statistics."""

    def __init__(self, model: Any, tokenizer: Any, metrics: tuple[str, ...], limit: int) -> None:
        cfg = model.config
        self.model, self.tokenizer, self.metrics, self.limit = model, tokenizer, metrics, limit
        self.enc_dec = bool(getattr(cfg, "is_encoder_decoder", False))
        side = padding_side_for(model, getattr(tokenizer, "padding_side", "right") or "right", self.enc_dec)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.runner = BatchRunner(model, tokenizer, None, None, False, "float32", side, pad_id)
        start = getattr(cfg, "decoder_start_token_id", None)
        self.start = [int(start if start is not None else pad_id)]
        self.special = set(getattr(tokenizer, "all_special_ids", []) or [])
        self.byte_level = is_byte_level(tokenizer)
        self.cache: dict[int, tuple[str, str]] = {}
        self.accs: dict[str, RunningStats] | None = None
        self.seen = self.cut_texts = 0
        self.shape: tuple[int, int] | None = None
        self.mode = contextlib.ExitStack()
        self.session: Session | None = None
        try:  # layer by layer under attnviz's attention function; else every layer at once
            session = Session(model, layers=None, heads=None, on_layer=self._on_layer)  # registers STREAMING
            self.mode.enter_context(inspection_mode(model, implementation=STREAMING))
            self.session = session
        except AttentionUnavailableError as exc:
            self._fall_back(exc)
        self.layer_values: dict[int, dict] = {}
        self.tb: TokenBatch | None = None

    def run_window(self, texts: list[str], batch_size: int):
        """Tokenize a window of texts, run it in length-sorted batches; yields texts done per batch."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            items = tokenize_texts(self.tokenizer, texts, None, self.limit)
        if caught:  # count the cut texts here, warn once at the end
            lengths = self.tokenizer(texts, truncation=False, verbose=False)["input_ids"]
            self.cut_texts += sum(1 for ids in lengths if len(ids) > self.limit)
        check_vocabulary(self.model, items, None)
        items.sort(key=lambda it: len(it["input_ids"]))
        for s in range(0, len(items), batch_size):
            batch = items[s:s + batch_size]
            self._run_batch(batch)
            yield len(batch)

    def _roles(self, ids: list[int]):
        tokens, display = [], []
        for i in ids:
            hit = self.cache.get(i)
            if hit is None:
                tok = self.tokenizer.convert_ids_to_tokens(i)
                hit = self.cache[i] = (tok, display_token(tok, byte_level=self.byte_level))
            tokens.append(hit[0])
            display.append(hit[1])
        return token_roles(tokens, [i in self.special for i in ids], display)

    def _fall_back(self, reason: Exception) -> None:
        """Leave the layer-by-layer path for output_attentions=True under eager attention, with a warning."""
        warnings.warn(f"dataset_stats could not compute attention layer by layer ({reason}); it fell back to "
                      "output_attentions=True under eager attention, which holds every layer's maps at once",
                      UserWarning, stacklevel=4)
        self.mode.close()
        self.mode = contextlib.ExitStack()
        self.mode.enter_context(inspection_mode(self.model))
        self.session = None

    def _on_layer(self, site: tuple[str, int], weights) -> None:
        assert self.tb is not None, "a batch's token roles are set before its forward pass"
        self.layer_values[site[1]] = batch_values(weights[:, None], self.tb, self.metrics)

    def _streamed_values(self, inputs: dict, rows: list[Rows]) -> dict:
        """One forward pass; each layer's statistics computed as soon as its weights exist."""
        self.layer_values = {}
        session = self.session
        assert session is not None, "streamed values need a streaming session"
        session.begin_batch({"self": rows})  # every row of every example: the in-place weights where eligible
        with session.active():
            self.model(**inputs, return_dict=True)
        missing = session.missing()
        if missing:
            raise StreamingUnavailable(f"no attention call reached attnviz for layer {missing[0][1]} of this "
                                       f"{type(self.model).__name__}")
        layers = [self.layer_values[l] for l in sorted(self.layer_values)]
        return {m: (np.concatenate([v[m][0] for v in layers], axis=1), layers[0][m][1]) for m in self.metrics}

    def _eager_values(self, inputs: dict) -> dict:
        out = self.model(**inputs, output_attentions=True, return_dict=True)
        maps = out.encoder_attentions if self.enc_dec else out.attentions
        check_attentions(maps, self.model)
        assert self.tb is not None, "a batch's token roles are set before its forward pass"
        return batch_values(maps, self.tb, self.metrics)

    def _run_batch(self, items: list[dict]) -> None:
        targets = [self.start] * len(items) if self.enc_dec else None
        inputs, starts, _ = self.runner.batch_inputs(items, targets)
        self.tb = token_batch([self._roles(it["input_ids"]) for it in items], starts, inputs["input_ids"].shape[1])
        values = None
        if self.session is not None:
            try:
                values = self._streamed_values(inputs, [Rows(torch.arange(s, s + len(it["input_ids"])), s,
                                                             s + len(it["input_ids"]), every_row=True)
                                                        for s, it in zip(starts, items)])
            except StreamingUnavailable as exc:
                if self.accs is not None:
                    raise
                self._fall_back(exc)
        if values is None:
            values = self._eager_values(inputs)
        if self.accs is None:
            self.shape = next(iter(values.values()))[0].shape[1:]
            self.accs = {m: RunningStats(self.shape) for m in self.metrics}
        for name, (vals, valid) in values.items():
            self.accs[name].update(vals, valid)
        self.seen += len(items)

    def running(self) -> dict[str, RunningStats]:
        """The running statistics of the texts seen so far (raises a ValueError before the first)."""
        if self.accs is None:
            raise ValueError("no texts to compute statistics on: pass at least one non-empty text")
        return self.accs

    def result(self) -> HeadStats:
        if self.accs is None or self.shape is None:
            raise ValueError("no texts to compute statistics on: pass at least one non-empty text")
        if self.cut_texts:
            warnings.warn(f"{self.cut_texts} of {self.seen} text(s) were longer than {self.limit} tokens and were "
                          "truncated; pass a larger max_length if the model allows it, or shorten them",
                          UserWarning, stacklevel=3)
        layers, heads = self.shape
        name = str(getattr(self.model, "name_or_path", "") or type(self.model).__name__)
        return HeadStats(values={m: a.result for m, a in self.accs.items()},
                         std={m: a.std for m, a in self.accs.items()},
                         counts={m: a.count for m, a in self.accs.items()}, layers=list(range(layers)),
                         heads=list(range(heads)), num_examples=self.seen, kind="self", model_name=name)
