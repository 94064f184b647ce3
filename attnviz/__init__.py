"""attnviz: look inside Hugging Face transformers.

Extract attention maps and hidden states correctly (eager attention switched on for
the call, padding removed, everything on the CPU), summarise them, plot them for
papers, explore them in notebooks and compare them before and after fine-tuning.

Heavy parts (plotting, notebook views, fine-tuning) are imported on first use.

Example:
    >>> import attnviz
    >>> from attnviz.testing import tiny_model
    >>> model, tok = tiny_model("bert")
    >>> cap = attnviz.extract(model, ["the cat sat on the mat"], tokenizer=tok)
    >>> print(attnviz.shape_report(cap).rows[0].name)
    attentions[0]
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

from attnviz._version import __version__  # noqa: E402
from attnviz.capture import Capture, Example, load  # noqa: E402
from attnviz.extraction.extract import extract  # noqa: E402
from attnviz.modeling import AttentionUnavailableError, load_model  # noqa: E402
from attnviz.shapes import ShapeReport, shape_report  # noqa: E402

# Public names imported lazily: name -> (module, attribute or None for the module itself).
_LAZY = {
    "plot": ("attnviz.plot", None),
    "metrics": ("attnviz.metrics", None),
    "notebook": ("attnviz.notebook", None),
    "data": ("attnviz.data", None),
    "save_figure": ("attnviz.plot.style", "save_figure"),
    "paper_theme": ("attnviz.plot.style", "paper_theme"),
    "finetune": ("attnviz.training", "finetune"),
    "finetune_seeds": ("attnviz.training", "finetune_seeds"),
    "trajectory": ("attnviz.comparison.noise", "trajectory"),
    "FinetuneResult": ("attnviz.training", "FinetuneResult"),
    "AttentionCaptureCallback": ("attnviz.training", "AttentionCaptureCallback"),
    "compare": ("attnviz.comparison", "compare"),
    "Comparison": ("attnviz.comparison", "Comparison"),
    "extract_generation": ("attnviz.extraction.generate", "extract_generation"),
    "intervene": ("attnviz.extraction.intervene", "intervene"),
    "store": ("attnviz.store", None),
    "extract_dataset": ("attnviz.distributed", "extract_dataset"),
}

# Where modules used to live (attnviz/<old>.py) -> where they live now. The old paths stay
# importable: ``import attnviz.streaming`` gives the very module object
# ``attnviz.extraction.streaming``, so monkeypatching either patches both.
MOVED = {
    "extract": "attnviz.extraction.extract",
    "batching": "attnviz.extraction.batching",
    "streaming": "attnviz.extraction.streaming",
    "inputs": "attnviz.extraction.inputs",
    "tokens": "attnviz.extraction.tokens",
    "generate": "attnviz.extraction.generate",
    "comparison_stats": "attnviz.comparison.stats",
    "comparison_noise": "attnviz.comparison.noise",
    "finetuning": "attnviz.training.finetuning",
    "training_loop": "attnviz.training.loop",
    "training_trainer": "attnviz.training.trainer",
    "training_setup": "attnviz.training.setup",
    "training_result": "attnviz.training.result",
}


class _MovedLoader(importlib.abc.Loader):
    """Loads an old path by importing the new module and handing back that same object."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: Any) -> Any:
        return importlib.import_module(self.target)

    def exec_module(self, module: Any) -> None:
        pass  # the real module ran when it was imported


class _MovedFinder(importlib.abc.MetaPathFinder):
    """Resolves ``attnviz.<old>`` to its new home on first import (nothing heavy at ``import attnviz``)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        prefix, _, child = fullname.partition(".")
        if prefix != "attnviz" or child not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _MovedLoader(MOVED[child]))


if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedFinder())
# Modules already imported by now are aliased at once, so ``import attnviz.extract`` never
# replaces the ``attnviz.extract`` function with the module.
for _old, _new in MOVED.items():
    if _new in sys.modules:
        sys.modules.setdefault(f"attnviz.{_old}", sys.modules[_new])
del _old, _new

__all__ = [
    "AttentionUnavailableError",
    "Capture",
    "Example",
    "ShapeReport",
    "__version__",
    "extract",
    "load",
    "load_model",
    "shape_report",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    if name in MOVED:  # ``attnviz.streaming`` without importing it first, as before the move
        return importlib.import_module(f"attnviz.{name}")
    if name not in _LAZY:
        raise AttributeError(f"module 'attnviz' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
