"""Head importance, its data: texts and labels from the accepted forms, padded batches sorted by
length, and the per-example loss and task metric of one batch (see :mod:`.importance`).

Example:
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert", head="sequence-classification")
    >>> data = prepare(model, tok, [("a good film", 1), ("bad", 0)], batch_size=2, max_length=None,
    ...                text_column="text", label_column="label", split="validation")
    >>> data.task, data.num_examples, len(data.batches)
    ('classification', 2, 1)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnviz.modeling import model_task

__all__ = ["per_example", "prepare"]


@dataclass
class _Data:
    batches: list[dict[str, Any]]
    task: str
    num_examples: int


def _texts_labels(data: Any, task: str, text_column: str, label_column: str, split: str):
    """(texts, labels or None) from the accepted data forms."""
    from attnviz.data import load_labeled, load_reviews

    if data is None or (isinstance(data, str) and data == "builtin"):
        data = load_reviews()
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(f"no data file at {path}: pass a .csv/.jsonl file, 'builtin' or a list of texts")
        if task == "lm":
            from attnviz.metrics.sources import iter_texts

            return list(iter_texts(path, text_column=text_column)[0]), None
        data = load_labeled(path, text_column=text_column, label_column=label_column)
    import datasets

    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise ValueError(f"the data has no split {split!r}: use one of {list(data.keys())}")
        data = data[split]
    if hasattr(data, "column_names"):                                              # datasets.Dataset
        texts = list(data[text_column])
        labels = list(data[label_column]) if label_column in data.column_names else None
    elif isinstance(data, dict):
        texts = list(data[text_column])
        labels = list(data[label_column]) if label_column in data else None
    else:
        rows = [data] if isinstance(data, str) else list(data)
        if rows and all(isinstance(r, (tuple, list)) and len(r) == 2 for r in rows):
            texts, labels = [r[0] for r in rows], [r[1] for r in rows]
        else:
            texts, labels = rows, None
    if not texts:
        raise ValueError("the data holds no texts: pass at least one example")
    if task == "classification" and labels is None:
        raise ValueError("a classifier's importance needs labels: pass (text, label) pairs, a dataset with a "
                         f"{label_column!r} column, or a labelled .csv/.jsonl file")
    return [str(t) for t in texts], labels


def prepare(model: Any, tokenizer: Any, data: Any, *, batch_size: int, max_length: int | None,
             text_column: str, label_column: str, split: str) -> _Data:
    """The data as padded batches sorted by length (less padding), with the task of the model's head.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2", head="lm")
        >>> data = prepare(model, tok, ["a cat", "the cat sat"], batch_size=1, max_length=None,
        ...                text_column="text", label_column="label", split="validation")
        >>> data.task, [b["input_ids"].shape[0] for b in data.batches]
        ('lm', [1, 1])
    """
    import torch

    task = model_task(model, needed_by="head_importance")
    texts, labels = _texts_labels(data, task, text_column, label_column, split)
    if labels is not None and task == "classification":
        names = getattr(model.config, "label2id", None) or {}
        labels = [names[lab] if isinstance(lab, str) and lab in names else int(lab) for lab in labels]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))     # less padding
    batches = []
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        enc = tokenizer([texts[i] for i in idx], return_tensors="pt", padding=True, truncation=True,
                        max_length=max_length or min(getattr(tokenizer, "model_max_length", 512), 512))
        batch = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        if task == "classification":
            batch["labels"] = torch.tensor([labels[i] for i in idx])
        batches.append(batch)
    return _Data(batches, task, len(texts))


def per_example(model: Any, batch: dict[str, Any], task: str):
    """(per-example loss, per-example number of correct predictions, per-example count) for one batch.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> model, tok = tiny_model("gpt2", head="lm")
        >>> loss, correct, count = per_example(model, dict(tok(["a cat sat"], return_tensors="pt")), "lm")
        >>> loss.shape, float(count[0]) == len(tok("a cat sat")["input_ids"]) - 1
        (torch.Size([1]), True)
    """
    import torch
    import torch.nn.functional as F

    inputs = {k: v for k, v in batch.items() if k != "labels"}
    logits = model(**inputs).logits.float()
    if task == "classification":
        labels = batch["labels"]
        loss = F.cross_entropy(logits, labels, reduction="none")
        correct = (logits.argmax(-1) == labels).float()
        return loss, correct, torch.ones_like(correct)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    target, keep = ids[:, 1:], mask[:, 1:].bool() & mask[:, :-1].bool()
    tok = F.cross_entropy(logits[:, :-1].transpose(1, 2), target, reduction="none")
    count = keep.sum(-1).float()
    loss = (tok * keep).sum(-1) / count.clamp(min=1)
    correct = ((logits[:, :-1].argmax(-1) == target) & keep).sum(-1).float()
    return loss, correct, count


def _to(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: v.to(device) for k, v in batch.items()}


