"""Fine-tuning with a plain PyTorch loop, for those who prefer to see every step.

``DataLoader`` -> forward -> ``loss.backward()`` -> ``optimizer.step()`` ->
``scheduler.step()`` -> ``optimizer.zero_grad()``, with ``AdamW`` (no weight decay on
biases and LayerNorm weights, as ``Trainer`` does) and ``get_linear_schedule_with_warmup``.
After each epoch it evaluates, saves ``checkpoints/epoch-N`` (model + tokenizer) and
keeps track of the best epoch; at the end the best weights are loaded back.

Example:
    >>> import torch
    >>> from attnviz.testing import tiny_model
    >>> groups = parameter_groups(tiny_model("bert", head="sequence-classification")[0], 0.01)
    >>> [g["weight_decay"] for g in groups]
    [0.01, 0.0]
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from attnviz.training.result import FinetuneOptions
from attnviz.training.setup import classification_metrics, data_collator, save_pretrained_atomic


def parameter_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on weights, none on biases and normalisation weights.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> len(parameter_groups(tiny_model("bert")[0], 0.1))
        2
    """
    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if name.endswith("bias") or "norm" in name.lower() else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train_loop(model: Any, tokenizer: Any, tokenized: Any, out: Path, opts: FinetuneOptions, *,
               on_epoch_end: Callable[[Any, int], object] | None = None) -> dict[str, Any]:
    """Train with a plain loop; return checkpoints, per-epoch metrics, best epoch, time and the model.

    ``on_epoch_end(model, epoch)`` is called after each epoch (the probe captures); its return value is ignored.

    Example:
        >>> # see attnviz.finetune(..., method="loop"), which calls this
    """
    import torch
    from torch.utils.data import DataLoader
    from transformers import get_linear_schedule_with_warmup, set_seed

    set_seed(opts.seed)
    device = torch.device(opts.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(device)
    collate = data_collator(tokenizer)
    train_dl = DataLoader(tokenized["train"], batch_size=opts.batch_size, shuffle=True, collate_fn=collate,
                          generator=torch.Generator().manual_seed(opts.seed))
    eval_dl = DataLoader(tokenized["validation"], batch_size=opts.eval_batch_size, collate_fn=collate)
    optimizer = _adamw(parameter_groups(model, opts.weight_decay), opts.learning_rate)
    total = opts.epochs * len(train_dl)
    scheduler = get_linear_schedule_with_warmup(optimizer, math.ceil(opts.warmup_ratio * total), total)
    metrics: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    stale = 0
    start = time.perf_counter()
    for epoch in range(1, opts.epochs + 1):
        train_loss = _train_epoch(model, train_dl, optimizer, scheduler, device, epoch, opts)
        row: dict[str, Any] = {"epoch": epoch, "train_loss": train_loss, **evaluate(model, eval_dl, device)}
        row["checkpoint"] = save_pretrained_atomic(model, tokenizer, out / "checkpoints" / f"epoch-{epoch}")
        metrics.append(row)
        if not opts.disable_tqdm:
            from tqdm.auto import tqdm

            tqdm.write(f"epoch {epoch}: train loss {train_loss:.4f}, eval loss {row['eval_loss']:.4f}, "
                       f"accuracy {row['accuracy']:.4f}, f1 {row['f1']:.4f}")
        if on_epoch_end is not None:
            on_epoch_end(model, epoch)
        if opts.is_better(row, best):
            best, stale = row, 0
        else:
            stale += 1
            if opts.early_stopping_patience and stale >= opts.early_stopping_patience:
                break
    seconds = time.perf_counter() - start
    assert best is not None  # epochs >= 1 and the first epoch always beats None
    if best is not metrics[-1]:
        _load_weights(model, best["checkpoint"])
    return {"model": model, "metrics": metrics, "best_epoch": best["epoch"], "train_time_s": seconds,
            "checkpoints": [m["checkpoint"] for m in metrics]}


def _adamw(groups: list[dict[str, Any]], lr: float):
    """AdamW, fused where torch supports it (much faster on CPU too), as Trainer's default."""
    import torch

    try:
        return torch.optim.AdamW(groups, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(groups, lr=lr)


def _train_epoch(model, loader, optimizer, scheduler, device, epoch: int, opts: FinetuneOptions) -> float:
    from tqdm.auto import tqdm

    model.train()
    losses, sizes = [], []
    for batch in tqdm(loader, desc=f"epoch {epoch}/{opts.epochs}", disable=opts.disable_tqdm, leave=False):
        batch = {k: v.to(device) for k, v in batch.items()}
        outputs = model(**batch)
        loss = outputs.loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        losses.append(float(loss.detach()))
        sizes.append(len(batch["labels"]))
    return float(np.average(losses, weights=sizes))


def evaluate(model: Any, loader: Any, device: Any) -> dict[str, float]:
    """Validation loss, accuracy and F1 of ``model`` over ``loader``.

    Example:
        >>> # called once per epoch by train_loop
    """
    import torch

    model.eval()
    logits, labels, losses, sizes = [], [], [], []
    with torch.no_grad():
        for batch in loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            outputs = model(**batch)
            logits.append(outputs.logits.float().cpu().numpy())
            labels.append(batch["labels"].cpu().numpy())
            losses.append(float(outputs.loss))
            sizes.append(len(batch["labels"]))
    scores = classification_metrics(np.concatenate(logits), np.concatenate(labels))
    return {"eval_loss": float(np.average(losses, weights=sizes)), **scores}


def _load_weights(model: Any, folder: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(str(Path(folder) / "model.safetensors"), device=str(next(model.parameters()).device))
    model.load_state_dict(state, strict=False)
