"""``finetune``: train a sequence classifier the Hugging Face way and watch its attention change.

The steps are the tutorial's (see :mod:`attnviz.training_setup`): load the model with
``AutoModelForSequenceClassification`` and ``num_labels`` from the data, tokenize with
``Dataset.map(batched=True)``, rename ``label`` to ``labels``, ``set_format("torch")``,
then train with ``Trainer`` (:mod:`attnviz.training_trainer`) or a plain PyTorch loop
(:mod:`attnviz.training_loop`). :class:`AttentionCaptureCallback` captures attention on
a fixed probe set before training and after each epoch.

The run folder::

    output_dir/
      attnviz-finetune.json    marker: this folder is an attnviz run (never clobbered silently)
      checkpoints/             one model + tokenizer per epoch (checkpoint-STEP or epoch-N)
      best/                    the best model + tokenizer: attnviz.extract(best, None, texts)
      probes/epoch-N.safetensors   probe captures (epoch 0 = before training), if asked
      trajectory.json / .png   change per layer over the epochs, from the probe captures
      finetune_result.json     FinetuneResult as JSON; finetune_summary.md the metrics table

Example:
    >>> import tempfile, attnviz
    >>> from attnviz.testing import tiny_model
    >>> from attnviz.data import load_reviews
    >>> result = attnviz.finetune(tiny_model("bert")[0], load_reviews(), tempfile.mkdtemp(),
    ...                           tokenizer=tiny_model("bert")[1], epochs=1, method="loop",
    ...                           probe_texts=["a fine film"], disable_tqdm=True)
    >>> result.probe_epochs, len(attnviz.extract(result.best_checkpoint, ["great"]))
    ([0, 1], 1)
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

from transformers import TrainerCallback

from attnviz.atomic import atomic_write_text
from attnviz.capture import Capture
from attnviz.modeling import ModelLike, Tokenizer, model_data_call
from attnviz.training.result import FinetuneOptions, FinetuneResult
from attnviz.training.setup import (
    RUN_MARKER,
    classifier_for,
    prepare_output_dir,
    progress_bars,
    save_pretrained_atomic,
    tokenize_splits,
    torch_threads,
)

__all__ = ["AttentionCaptureCallback", "FinetuneOptions", "FinetuneResult", "finetune", "finetune_seeds"]

METHODS = ("trainer", "loop")


class AttentionCaptureCallback(TrainerCallback):
    """A ``TrainerCallback`` that captures attention on probe texts as training goes.

    It runs :func:`attnviz.extract` on ``probe_texts`` before training
    (``on_train_begin``, epoch 0) and after each epoch (``on_epoch_end``); ``extract``
    switches the model to eager attention and eval mode for the call and restores both,
    so training is not disturbed. Works with any ``Trainer``.

    Attributes:
        captures: the :class:`~attnviz.Capture` of each capture, in order.
        epochs: the epoch number of each (0 = before training).

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("bert", head="sequence-classification")
        >>> cb = AttentionCaptureCallback(["a good film", "a bad film"], tok)
        >>> cap = cb.capture(model, epoch=0)
        >>> cb.epochs, len(cb.captures[0]), cap.extra["epoch"]
        ([0], 2, 0)
    """

    def __init__(self, probe_texts: Sequence[str], tokenizer: Any = None, *, layers: Sequence[int] | None = None,
                 heads: Sequence[int] | None = None, hidden_states: bool = True, max_length: int | None = None,
                 batch_size: int = 8, save_dir: str | os.PathLike | None = None) -> None:
        texts = [probe_texts] if isinstance(probe_texts, str) else list(probe_texts)
        if not texts:
            raise ValueError("probe_texts is empty: pass a few texts to watch, e.g. ['a great film']")
        self.probe_texts, self.tokenizer = texts, tokenizer
        self.options: dict[str, Any] = dict(layers=layers, heads=heads, hidden_states=hidden_states,
                                            max_length=max_length, batch_size=batch_size, progress=False)
        self.save_dir = Path(save_dir) if save_dir is not None else None
        self.captures: list[Capture] = []
        self.epochs: list[int] = []
        self.files: list[Path] = []

    def capture(self, model: Any, epoch: int, tokenizer: Any = None) -> Capture:
        """Capture the probe texts now and record it under ``epoch``.

        Example:
            >>> from attnviz.testing import tiny_model
            >>> cb = AttentionCaptureCallback("a film", tiny_model("bert")[1])
            >>> cb.capture(tiny_model("bert")[0], 3).extra["epoch"]
            3
        """
        from attnviz.extraction.extract import extract

        tok = tokenizer if tokenizer is not None else self.tokenizer
        cap = extract(model, self.probe_texts, **self.options, tokenizer=tok)
        cap.extra["epoch"] = int(epoch)
        self.captures.append(cap)
        self.epochs.append(int(epoch))
        if self.save_dir is not None:
            self.save_dir.mkdir(parents=True, exist_ok=True)
            self.files.append(cap.save(self.save_dir / f"epoch-{int(epoch)}.safetensors"))
        return cap

    def by_epoch(self) -> dict[int, Capture]:
        """``{epoch: capture}`` (the last capture of an epoch wins).

        Example:
            >>> AttentionCaptureCallback(["x"]).by_epoch()
            {}
        """
        return dict(zip(self.epochs, self.captures))

    def on_train_begin(self, args, state, control, model=None, processing_class=None, **kwargs):
        """Capture before the first step (epoch 0, or the epoch a resumed run starts from)."""
        self.capture(model, int(round(state.epoch or 0)), self.tokenizer or processing_class)

    def on_epoch_end(self, args, state, control, model=None, processing_class=None, **kwargs):
        """Capture after each epoch, numbered from 1."""
        self.capture(model, int(round(state.epoch)), self.tokenizer or processing_class)


@model_data_call("data", none_is_data=True)
def finetune(model: ModelLike, data: Any, output_dir: str | os.PathLike, *, tokenizer: Tokenizer = None,
             method: str = "trainer", epochs: int = 3, batch_size: int = 16, learning_rate: float = 1e-4,
             weight_decay: float = 0.01, warmup_ratio: float = 0.1, max_length: int = 128,
             padding: str = "dynamic", seed: int = 0, early_stopping_patience: int | None = None,
             metric_for_best_model: str = "accuracy", probe_texts: Sequence[str] | None = None,
             probe_layers: Sequence[int] | None = None, overwrite: bool = False, disable_tqdm: bool = False,
             text_column: str = "text", label_column: str = "label", validation_split: float = 0.2,
             device: str | None = None, num_threads: int | str | None = "auto",
             training_args: dict[str, Any] | None = None,
             callbacks: Sequence[Any] = ()) -> FinetuneResult:
    """Fine-tune ``model`` as a sequence classifier on ``data`` and save the run to ``output_dir``.

    Args:
        model: a local model folder or a loaded model (a loaded model is trained in
            place, as ``Trainer`` does: pass its folder to keep the original).
        data: a ``DatasetDict``/``Dataset``, a CSV/JSONL file (see
            :func:`attnviz.data.load_labeled`), or None for the shipped reviews.
        output_dir: the run folder; one that holds another run raises FileExistsError
            unless ``overwrite=True`` (which replaces only attnviz's own files).
        method: "trainer" (HF ``Trainer``) or "loop" (plain PyTorch); same results layout.
        epochs, batch_size, learning_rate, weight_decay, warmup_ratio, seed: as in
            ``TrainingArguments``; defaults tuned for MiniLM on the shipped reviews.
        max_length / padding: tokenization (``"dynamic"`` pads per batch).
        early_stopping_patience: stop after this many epochs without improvement.
        metric_for_best_model: "accuracy" (default), "f1" or "loss"; picks ``best/``.
        probe_texts: capture attention on these before training and after each epoch.
        disable_tqdm: hide the progress bars.
        device: "cpu", "cuda", ... (default: the Trainer's choice / cuda when available).
        num_threads: torch CPU threads during the run (restored afterwards): "auto" (default)
            uses torch's number less the cores other processes keep busy (several threads on
            busy cores spin-wait and can be 5x slower), an int sets it, None leaves torch's.
        training_args: extra ``TrainingArguments`` (method="trainer"), overriding ours.
        callbacks: extra ``TrainerCallback`` objects (method="trainer").

    Example:
        >>> import tempfile, datasets
        >>> from attnviz.testing import save_tiny_model
        >>> path = save_tiny_model("bert", tempfile.mkdtemp())
        >>> data = datasets.Dataset.from_dict({"text": ["good", "bad"] * 5, "label": [1, 0] * 5})
        >>> r = finetune(path, data, tempfile.mkdtemp(), epochs=2, disable_tqdm=True)
        >>> [m["epoch"] for m in r.metrics], (r.best_checkpoint / "tokenizer.json").exists()
        ([1, 2], True)
    """
    from attnviz.data import load_labeled, load_reviews

    if method not in METHODS:
        raise ValueError(f"method={method!r} is not known: use 'trainer' (HF Trainer) or 'loop' (plain PyTorch)")
    opts = FinetuneOptions(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                           weight_decay=weight_decay, warmup_ratio=warmup_ratio, max_length=max_length,
                           padding=padding, seed=seed, early_stopping_patience=early_stopping_patience,
                           metric_for_best_model=metric_for_best_model, disable_tqdm=disable_tqdm, device=device)
    dataset = load_reviews() if data is None else load_labeled(
        data, text_column=text_column, label_column=label_column, validation_split=validation_split, seed=seed)
    with progress_bars(not disable_tqdm), torch_threads(num_threads):
        result = _run(model, tokenizer, dataset, output_dir, opts, method=method, overwrite=overwrite,
                      probe_texts=probe_texts, probe_layers=probe_layers, training_args=training_args,
                      callbacks=callbacks)
    return result


def _run(model: Any, tokenizer: Any, dataset: Any, output_dir: Any, opts: FinetuneOptions, *, method: str,
         overwrite: bool, probe_texts: Any, probe_layers: Any, training_args: Any, callbacks: Any) -> FinetuneResult:
    names = list(dataset["train"].features["label"].names)
    source = str(model) if isinstance(model, (str, os.PathLike)) else str(getattr(model, "name_or_path", ""))
    model, tokenizer = classifier_for(model, tokenizer, names, seed=opts.seed)
    tokenized = tokenize_splits(dataset, tokenizer, max_length=opts.max_length, padding=opts.padding)
    out = prepare_output_dir(output_dir, overwrite=overwrite)
    probe = None if probe_texts is None else AttentionCaptureCallback(
        probe_texts, tokenizer, layers=probe_layers, max_length=opts.max_length, save_dir=out / "probes")
    if method == "trainer":
        from attnviz.training.trainer import train_with_trainer

        run = train_with_trainer(model, tokenizer, tokenized, out, opts, training_args=training_args,
                                 callbacks=[*callbacks, *([probe] if probe else [])])
    else:
        from attnviz.training.loop import train_loop

        if probe is not None:
            probe.capture(model, 0)
        run = train_loop(model, tokenizer, tokenized, out, opts,
                         on_epoch_end=probe.capture if probe is not None else None)
    best = save_pretrained_atomic(run["model"], tokenizer, out / "best")
    result = FinetuneResult(
        output_dir=out, method=method, checkpoints=[Path(p) for p in run["checkpoints"]], best_checkpoint=best,
        best_epoch=run["best_epoch"], metrics=run["metrics"], train_time_s=run["train_time_s"],
        label_names=names, model_source=source, options=dict(vars(opts)),
        probe_captures=probe.captures if probe else [], probe_epochs=probe.epochs if probe else [],
        probe_files=probe.files if probe else [])
    _write_records(result)
    if probe is not None and len(probe.captures) >= 2:
        from attnviz.comparison.noise import trajectory

        trajectory(probe.captures, probe.epochs).save(out)
    return result


@model_data_call("data", none_is_data=True)
def finetune_seeds(model: ModelLike, data: Any, output_dir: str | os.PathLike, *, seeds: Sequence[int] = (0, 1),
                   **kwargs: Any) -> list[FinetuneResult]:
    """Fine-tune the same model once per seed, into ``output_dir/seed-N``: the seed baseline.

    Every run starts from the same weights (a loaded model is copied first). Compare the
    runs' best checkpoints with ``attnviz.compare(before, after_seed0, baseline=after_seed1)``:
    heads whose change exceeds the seed-to-seed change are flagged. ``kwargs`` go to
    :func:`finetune`.

    Example:
        >>> import tempfile, datasets
        >>> from attnviz.testing import save_tiny_model
        >>> path = save_tiny_model("bert", tempfile.mkdtemp())
        >>> data = datasets.Dataset.from_dict({"text": ["good", "bad"] * 5, "label": [1, 0] * 5})
        >>> runs = finetune_seeds(path, data, tempfile.mkdtemp(), epochs=1, method="loop", disable_tqdm=True)
        >>> [r.output_dir.name for r in runs], runs[0].options["seed"]
        (['seed-0', 'seed-1'], 0)
    """
    import copy

    seeds = [int(s) for s in seeds]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds}: pass at least two different seeds, e.g. seeds=(0, 1)")
    if "seed" in kwargs:
        raise ValueError("pass the seeds as seeds=(...), not seed=")
    out = Path(output_dir)
    runs = []
    for s in seeds:
        start = model if isinstance(model, (str, os.PathLike)) else copy.deepcopy(model)
        runs.append(finetune(start, data, out / f"seed-{s}", seed=s, **kwargs))
    return runs


def _write_records(result: FinetuneResult) -> None:
    result.save()
    atomic_write_text(result.output_dir / "finetune_summary.md", "# Fine-tuning run\n\n" + result.summary() + "\n")
    atomic_write_text(result.output_dir / RUN_MARKER,
                      json.dumps({"tool": "attnviz.finetune", "status": "finished"}) + "\n")
