"""Fine-tuning with attention captured along the way.

:mod:`~attnviz.training.finetuning` holds :func:`finetune` and :func:`finetune_seeds`; the
steps live in :mod:`~attnviz.training.setup` (model, data, output folder),
:mod:`~attnviz.training.trainer` (``Trainer``), :mod:`~attnviz.training.loop` (a plain
PyTorch loop) and :mod:`~attnviz.training.result` (options and the result record).

Example:
    >>> from attnviz.training import FinetuneOptions, finetune
    >>> callable(finetune), FinetuneOptions.__name__
    (True, 'FinetuneOptions')
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = ["AttentionCaptureCallback", "FinetuneOptions", "FinetuneResult", "finetune", "finetune_seeds"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so ``import attnviz.training.result`` does not load transformers.
    if name not in __all__:
        raise AttributeError(f"module 'attnviz.training' has no attribute {name!r}")
    value = getattr(importlib.import_module("attnviz.training.finetuning"), name)
    globals()[name] = value
    return value
