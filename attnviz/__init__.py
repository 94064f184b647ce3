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
from typing import Any

from attnviz._version import __version__  # noqa: E402
from attnviz.capture import Capture, Example  # noqa: E402
from attnviz.extraction.extract import extract  # noqa: E402
from attnviz.modeling import AttentionUnavailableError, load_model  # noqa: E402
from attnviz.shapes import ShapeReport, shape_report  # noqa: E402
from attnviz.store import load  # noqa: E402  (also installs the capture file format: Capture.save/load)

# Public names imported lazily: name -> (module, attribute or None for the module itself).
_LAZY = {
    "plot": ("attnviz.plot", None),
    "metrics": ("attnviz.metrics", None),
    "notebook": ("attnviz.notebook", None),
    "data": ("attnviz.data", None),
    "save_figure": ("attnviz.plot.export", "save_figure"),
    "paper_theme": ("attnviz.plot.theme", "paper_theme"),
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
    if name not in _LAZY:
        raise AttributeError(f"module 'attnviz' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
