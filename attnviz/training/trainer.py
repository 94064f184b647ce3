"""Fine-tuning with the Hugging Face ``Trainer``: the tutorial's way, step by step.

``TrainingArguments`` evaluate, log and save once per epoch, keep the best checkpoint by
validation accuracy (``load_best_model_at_end``), report to nobody (``report_to="none"``)
and save only the model (no optimizer state) so checkpoints stay small.

Example:
    >>> from attnviz.training.result import FinetuneOptions
    >>> args = training_arguments("/tmp/attnviz-doc-run", FinetuneOptions(epochs=2))
    >>> args.eval_strategy.value, args.load_best_model_at_end, args.metric_for_best_model
    ('epoch', True, 'accuracy')
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Sequence

from attnviz.training.result import FinetuneOptions
from attnviz.training.setup import compute_metrics, data_collator


def training_arguments(output_dir: str | Path, opts: FinetuneOptions, **overrides: Any):
    """The ``TrainingArguments`` for ``opts``; ``overrides`` replace any of them.

    Example:
        >>> training_arguments("/tmp/x", FinetuneOptions(), num_train_epochs=1).num_train_epochs
        1
    """
    from transformers import TrainingArguments

    kwargs: dict[str, Any] = dict(
        output_dir=str(output_dir),
        num_train_epochs=opts.epochs,
        per_device_train_batch_size=opts.batch_size,
        per_device_eval_batch_size=opts.eval_batch_size,
        learning_rate=opts.learning_rate,
        weight_decay=opts.weight_decay,
        warmup_steps=opts.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio of all steps
        eval_strategy="epoch",
        save_strategy="epoch",
        logging_strategy="epoch",
        load_best_model_at_end=True,
        metric_for_best_model="eval_loss" if opts.metric_for_best_model == "loss" else opts.metric_for_best_model,
        greater_is_better=opts.metric_for_best_model != "loss",
        save_only_model=True,
        seed=opts.seed,
        report_to="none",
        disable_tqdm=opts.disable_tqdm,
        use_cpu=opts.device == "cpu",
        dataloader_num_workers=0,
        dataloader_pin_memory=_has_cuda() and opts.device != "cpu",
    )
    kwargs.update(overrides)
    return TrainingArguments(**kwargs)


def train_with_trainer(model: Any, tokenizer: Any, tokenized: Any, out: Path, opts: FinetuneOptions, *,
                       callbacks: Sequence[Any] = (), training_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Train with ``Trainer``; return checkpoints, per-epoch metrics, best epoch, time and the model.

    Example:
        >>> # see attnviz.finetune(..., method="trainer"), which calls this
    """
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer

    extra = list(callbacks)
    if opts.early_stopping_patience:
        extra.append(EarlyStoppingCallback(early_stopping_patience=opts.early_stopping_patience))
    trainer = Trainer(
        model=model,
        args=training_arguments(out / "checkpoints", opts, **(training_args or {})),
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        processing_class=tokenizer,
        data_collator=data_collator(tokenizer),
        compute_metrics=compute_metrics,
        callbacks=extra,
    )
    if opts.disable_tqdm:  # Trainer then prints every log dict instead: keep it quiet as asked
        trainer.remove_callback(PrinterCallback)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    metrics = epoch_metrics(trainer.state.log_history, out / "checkpoints")
    best = trainer.state.best_model_checkpoint
    best_epoch = next((m["epoch"] for m in metrics if best and Path(m["checkpoint"]).name == Path(best).name),
                      metrics[-1]["epoch"] if metrics else None)
    return {"model": trainer.model, "metrics": metrics, "best_epoch": best_epoch, "train_time_s": seconds,
            "checkpoints": [m["checkpoint"] for m in metrics]}


def epoch_metrics(log_history: list[dict[str, Any]], checkpoint_dir: Path) -> list[dict[str, Any]]:
    """One row per epoch from ``trainer.state.log_history`` (train loss, eval loss, accuracy, f1).

    Example:
        >>> logs = [{"loss": 0.7, "epoch": 1.0, "step": 5},
        ...         {"eval_loss": 0.6, "eval_accuracy": 0.75, "eval_f1": 0.7, "epoch": 1.0, "step": 5}]
        >>> epoch_metrics(logs, Path("c"))[0]["checkpoint"].name
        'checkpoint-5'
    """
    rows: dict[int, dict[str, Any]] = {}
    for entry in log_history:
        if "epoch" not in entry:
            continue
        epoch = int(round(entry["epoch"]))
        row = rows.setdefault(epoch, {"epoch": epoch, "train_loss": None})
        if "loss" in entry:
            row["train_loss"] = float(entry["loss"])
        if "eval_loss" in entry:
            row.update(eval_loss=float(entry["eval_loss"]), accuracy=float(entry.get("eval_accuracy", "nan")),
                       f1=float(entry.get("eval_f1", "nan")), checkpoint=checkpoint_dir / f"checkpoint-{entry['step']}")
    return [rows[e] for e in sorted(rows) if "eval_loss" in rows[e]]


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()
