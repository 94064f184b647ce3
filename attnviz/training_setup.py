"""The steps before training, as the Hugging Face tutorial teaches them.

* :func:`classifier_for`: a path or a loaded model becomes an
  ``AutoModelForSequenceClassification`` with ``num_labels`` and ``id2label`` from the data.
* :func:`tokenize_splits`: ``Dataset.map(tokenize, batched=True)`` with truncation and
  ``max_length``, the text column removed, ``label`` renamed to ``labels`` and
  ``set_format("torch")``.
* :func:`classification_metrics`: accuracy and F1 with scikit-learn.
* :func:`prepare_output_dir`: never clobber another run silently.

Example:
    >>> from attnviz.testing import tiny_model
    >>> from attnviz.data import load_reviews
    >>> model, tok = classifier_for(tiny_model("bert")[0], tiny_model("bert")[1], ["neg", "pos"])
    >>> ds = tokenize_splits(load_reviews(), tok, max_length=32)
    >>> ds["train"].column_names
    ['labels', 'input_ids', 'token_type_ids', 'attention_mask']
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from attnviz.atomic import atomic_folder, atomic_write_text

RUN_MARKER = "attnviz-finetune.json"
RESULT_FILE = "finetune_result.json"
OWN_ENTRIES = (RUN_MARKER, RESULT_FILE, "finetune_summary.md", "checkpoints", "best", "probes")


def classifier_for(model: Any, tokenizer: Any, label_names: Sequence[str], *, seed: int = 0):
    """``(model, tokenizer)`` ready to fine-tune: a sequence classifier with these labels.

    ``model`` is a local folder (loaded with ``AutoModelForSequenceClassification``; a
    new classification head is initialised, seeded) or a loaded model. A loaded
    classifier with the right number of labels is used as it is (and trained in place,
    as ``Trainer`` does); any other loaded model is converted through a temporary
    ``save_pretrained`` folder.

    Example:
        >>> from attnviz.testing import tiny_model
        >>> m, t = classifier_for(*tiny_model("bert"), ["neg", "neu", "pos"])
        >>> m.config.num_labels, m.config.id2label[2]
        (3, 'pos')
    """
    from transformers import AutoModelForSequenceClassification, set_seed

    from attnviz.modeling import tokenizer_for

    names = list(label_names)
    labels = {"num_labels": len(names), "id2label": dict(enumerate(names)),
              "label2id": {n: i for i, n in enumerate(names)}}
    set_seed(seed)
    is_path = isinstance(model, (str, os.PathLike))
    if is_path and not Path(model).is_dir():
        raise FileNotFoundError(f"no model folder at {model}: pass a folder written by save_pretrained() "
                                "(attnviz loads models from local folders only)")
    if tokenizer is None:
        tokenizer = tokenizer_for(model)
    if is_path:
        return _load_classifier(model, labels), tokenizer
    if type(model).__name__.endswith("ForSequenceClassification"):
        if model.config.num_labels != len(names):
            raise ValueError(
                f"the model is a classifier with {model.config.num_labels} labels but the data has "
                f"{len(names)} classes ({', '.join(names)}): pass the base model's folder instead, so "
                "a new head with the right size is made")
        model.config.id2label, model.config.label2id = labels["id2label"], labels["label2id"]
        return model, tokenizer
    with tempfile.TemporaryDirectory(prefix="attnviz-base-") as tmp:
        model.save_pretrained(tmp)
        return _load_classifier(tmp, labels, AutoModelForSequenceClassification), tokenizer


def _load_classifier(path: Any, labels: dict, cls: Any = None):
    import transformers
    from transformers import AutoModelForSequenceClassification

    cls = cls or AutoModelForSequenceClassification
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # "newly initialized classifier" is expected here
    try:
        return cls.from_pretrained(str(path), ignore_mismatched_sizes=True, **labels)
    except ValueError as exc:
        raise ValueError(f"{path} cannot be loaded as a sequence classifier ({exc}); fine-tune an "
                         "encoder or decoder model that has a *ForSequenceClassification class") from exc
    finally:
        transformers.logging.set_verbosity(verbosity)


def tokenize_splits(data: Any, tokenizer: Any, *, max_length: int = 128, padding: str = "dynamic"):
    """Tokenize every split: ``map(batched=True)``, drop ``text``, ``label`` -> ``labels``, torch format.

    ``padding="dynamic"`` (default) leaves the padding to the data collator, which pads
    each batch to its longest text (faster); ``"max_length"`` pads every text to
    ``max_length`` inside ``map`` as in the HF tutorial.

    Example:
        >>> import datasets
        >>> from attnviz.testing import tiny_tokenizer
        >>> dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["a cat"], "label": [1]})})
        >>> tokenize_splits(dd, tiny_tokenizer(), max_length=8, padding="max_length")["train"][0]["input_ids"].shape
        torch.Size([8])
    """
    if padding not in ("dynamic", "max_length", "longest"):
        raise ValueError(f"padding={padding!r}: use 'dynamic' (per batch), 'max_length' or 'longest'")
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ValueError("the tokenizer has no pad token: set tokenizer.pad_token before fine-tuning")
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 style tokenizers

    def tokenize(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length,
                         padding=False if padding == "dynamic" else padding)

    tokenized = data.map(tokenize, batched=True, remove_columns=["text"])
    tokenized = tokenized.rename_column("label", "labels")
    tokenized.set_format("torch")
    return tokenized


def data_collator(tokenizer: Any):
    """Pads each batch to its longest sequence (``DataCollatorWithPadding``).

    Example:
        >>> from attnviz.testing import tiny_tokenizer
        >>> type(data_collator(tiny_tokenizer())).__name__
        'DataCollatorWithPadding'
    """
    from transformers import DataCollatorWithPadding

    return DataCollatorWithPadding(tokenizer)


def classification_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and F1 (binary F1 of class 1 for two classes, macro F1 otherwise).

    Example:
        >>> classification_metrics(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
        {'accuracy': 0.5, 'f1': 0.6666666666666666}
    """
    from sklearn.metrics import accuracy_score, f1_score

    logits = logits[0] if isinstance(logits, tuple) else logits
    preds = np.asarray(logits).argmax(-1)
    labels = np.asarray(labels)
    average = "binary" if np.asarray(logits).shape[-1] == 2 else "macro"
    return {"accuracy": float(accuracy_score(labels, preds)),
            "f1": float(f1_score(labels, preds, average=average, zero_division=0))}


def compute_metrics(eval_pred: Any) -> dict[str, float]:
    """The ``compute_metrics`` function handed to ``Trainer``.

    Example:
        >>> compute_metrics((np.array([[0.0, 1.0]]), np.array([1])))["accuracy"]
        1.0
    """
    logits, labels = eval_pred
    return classification_metrics(logits, labels)


def prepare_output_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Create the run folder; refuse one that holds another run unless ``overwrite``.

    An attnviz run is recognised by its marker file. With ``overwrite=True`` only
    attnviz's own entries (checkpoints/, best/, probes/, result files) are removed;
    anything else in the folder stays. A non-empty folder that is not an attnviz run is
    always refused.

    Example:
        >>> import tempfile, pathlib
        >>> out = prepare_output_dir(pathlib.Path(tempfile.mkdtemp()) / "run")
        >>> sorted(p.name for p in out.iterdir())
        ['attnviz-finetune.json']
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output_dir {out} is a file: pass a folder path")
    entries = sorted(p.name for p in out.iterdir()) if out.exists() else []
    if entries:
        if RUN_MARKER not in entries:
            raise FileExistsError(
                f"output_dir {out} is not empty and does not hold an attnviz fine-tuning run "
                f"(it has: {', '.join(entries[:5])}{' ...' if len(entries) > 5 else ''}): pick a new or empty folder")
        if not overwrite:
            raise FileExistsError(
                f"output_dir {out} already holds a fine-tuning run: pass overwrite=True (CLI: --overwrite) "
                "to replace it, or pick another folder")
        for name in OWN_ENTRIES:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    out.mkdir(parents=True, exist_ok=True)

    atomic_write_text(out / RUN_MARKER, json.dumps({"tool": "attnviz.finetune", "status": "running"}) + "\n")
    return out


def save_pretrained_atomic(model: Any, tokenizer: Any, path: str | os.PathLike) -> Path:
    """Save model + tokenizer to a temporary folder beside ``path``, then rename it into place.

    Example:
        >>> import tempfile, pathlib
        >>> from attnviz.testing import tiny_model
        >>> p = save_pretrained_atomic(*tiny_model("bert"), pathlib.Path(tempfile.mkdtemp()) / "m")
        >>> (p / "config.json").exists() and (p / "tokenizer.json").exists()
        True
    """
    with atomic_folder(path) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return Path(path)


@contextlib.contextmanager
def progress_bars(enabled: bool) -> Iterator[None]:
    """Switch the progress bars of ``datasets`` and ``transformers`` on or off for a block.

    Example:
        >>> with progress_bars(False):
        ...     import datasets; datasets.is_progress_bar_enabled()
        False
    """
    import datasets
    from transformers.utils import logging as hf_logging

    was_ds, was_hf = datasets.is_progress_bar_enabled(), hf_logging.is_progress_bar_enabled()
    (datasets.enable_progress_bars if enabled else datasets.disable_progress_bars)()
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (datasets.enable_progress_bars if was_ds else datasets.disable_progress_bars)()
        (hf_logging.enable_progress_bar if was_hf else hf_logging.disable_progress_bar)()


@contextlib.contextmanager
def torch_threads(count: int | str | None) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(count)``, restored afterwards.

    ``None`` leaves torch's setting; ``"auto"`` uses :func:`auto_threads`. On a CPU
    shared with other busy processes, several torch threads spin-wait for each other
    (measured here: 3 epochs of MiniLM took 133 s with 2 threads on 2 busy cores, 28 s
    with 1), so fewer threads can be much faster.

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with torch_threads(1):
        ...     torch.get_num_threads()
        1
        >>> torch.get_num_threads() == before
        True
    """
    import torch

    if count == "auto":
        count = auto_threads()
    if count is None:
        yield
        return
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"num_threads={count!r}: pass a positive number of threads, 'auto', or None for "
                         "torch's default")
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def auto_threads() -> int | None:
    """Torch threads for CPU training: torch's default, less the cores other processes keep busy.

    Uses the 1-minute load average; None (leave torch alone) where it is not known or
    a GPU does the work.

    Example:
        >>> n = auto_threads()
        >>> n is None or n >= 1
        True
    """
    import torch

    if torch.cuda.is_available() or not hasattr(os, "getloadavg"):
        return None
    cores = os.cpu_count() or 1
    idle = cores - os.getloadavg()[0]
    return max(1, min(torch.get_num_threads(), int(idle + 0.5)))
