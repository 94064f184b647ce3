"""The package root stays small, and the layers import one way only."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import attnviz

ROOT = Path(attnviz.__file__).parent


def test_the_package_root_holds_at_most_eleven_modules():
    modules = sorted(p.name for p in ROOT.glob("*.py") if p.name != "__init__.py")
    assert len(modules) <= 11, f"attnviz/ holds {len(modules)} modules: {modules}"


@pytest.mark.parametrize("old", ["streaming", "batching", "comparison_stats", "training_setup"])
def test_old_module_paths_are_gone(old):
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module(f"attnviz.{old}")
    assert not hasattr(attnviz, old)


def test_the_public_api():
    assert attnviz.finetune is importlib.import_module("attnviz.training.finetuning").finetune
    assert attnviz.compare is importlib.import_module("attnviz.comparison").compare
    assert attnviz.trajectory is importlib.import_module("attnviz.comparison.noise").trajectory
    assert attnviz.extract_generation is importlib.import_module("attnviz.extraction.generate").extract_generation
    assert attnviz.extract is importlib.import_module("attnviz.extraction.extract").extract
    assert callable(attnviz.extract), "importing attnviz.extraction.extract leaves attnviz.extract the function"


def test_the_heavy_parts_import_lazily_in_a_fresh_interpreter():
    code = ("import sys, attnviz; assert 'attnviz.training.finetuning' not in sys.modules; "
            "assert 'transformers.trainer' not in sys.modules; "
            "import attnviz.training.result, attnviz.comparison.noise; "
            "assert 'transformers.trainer' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ,
                   "PYTHONPATH": str(ROOT.parent)})


# --- the pipeline order: a module imports only from its own layer or the layers before it ---
#: attnviz's parts, bottom (imported by everything) to top (imports everything); CONTRIBUTING.md
#: draws the same table.
LAYERS = (
    ("_version", "atomic", "results", "families", "data"),  # facts and files, no model
    ("modeling",),                                    # loading, inspection mode
    ("capture", "store", "validation"),               # the data
    ("extraction",),                                  # model -> capture
    ("plot",),                                        # capture -> figures
    ("metrics", "comparison", "shapes", "distributed"),  # analysis (results draw with plot)
    ("notebook",),                                    # views
    ("training",),                                    # fine-tuning (probes extract and compare)
    ("testing", "attnviz"),                           # tiny models; the package root re-exports
    ("cli",),                                         # the command line uses the public API
)
LAYER_OF = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
#: Deferred imports that may go up, each with its reason (a convenience method of a result).
UPWARD_ALLOWED = {("attnviz.capture", "attnviz.plot"): "Capture.plot() draws with plot.head_grid, as pandas' .plot"}


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    """The part of the package a module belongs to: ``attnviz.metrics.kernel`` -> ``metrics``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "attnviz"
    return parts[1]


def _imports(path: Path, root: Path = ROOT):
    """``(target module, line)`` for every attnviz import in a file, outside ``if TYPE_CHECKING:``."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    here = _module_name(path, root).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            for alias in node.names:   # `from attnviz import plot` imports the subpackage
                sub = f"{target}.{alias.name}"
                is_part = (root.parent / sub.replace(".", "/")).is_dir() or \
                    (root.parent / (sub.replace(".", "/") + ".py")).exists()
                yield (sub if is_part else target), node.lineno


def test_every_part_of_the_package_has_a_layer():
    parts = {p.stem for p in ROOT.glob("*.py") if p.name != "__init__.py"} | \
        {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert parts - set(LAYER_OF) == set(), "add the new part to LAYERS (and to CONTRIBUTING.md's table)"


def _upward_imports(root: Path) -> list[str]:
    """Every import of a part above the importing one, as ``module:line imports target``."""
    upward = []
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path, root)
        for target, line in _imports(path, root):
            if not target.startswith("attnviz"):
                continue
            src, dst = _part(module), _part(target)
            if LAYER_OF[dst] > LAYER_OF[src] and (module, ".".join(target.split(".")[:2])) not in UPWARD_ALLOWED:
                upward.append(f"{module}:{line} imports {target} ({src} is below {dst})")
    return upward


def test_no_module_imports_one_above_it_in_the_pipeline():
    assert _upward_imports(ROOT) == []


def test_the_layer_check_sees_an_upward_import(tmp_path):
    root = tmp_path / "attnviz"
    (root / "extraction").mkdir(parents=True)
    (root / "extraction" / "__init__.py").write_text("from attnviz.modeling import load_model\n")
    (root / "modeling.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                      "    from attnviz.capture import Capture\n"
                                      "def f():\n    from .extraction import streaming\n")
    assert _upward_imports(root) == ["attnviz.modeling:5 imports attnviz.extraction (modeling is below extraction)"]


def test_the_entry_points_type_models_and_tokenizers():
    """Models are ``ModelLike`` (a PreTrainedModel or its folder), never ``Any``; tokenizers ``Tokenizer``."""
    import attnviz.metrics
    import attnviz.notebook
    from attnviz.modeling import ModelLike, Tokenizer

    entry_points = [attnviz.extract, attnviz.metrics.dataset_stats, attnviz.metrics.logit_lens,
                    attnviz.metrics.head_importance, attnviz.metrics.pruning_curve, attnviz.finetune,
                    attnviz.finetune_seeds, attnviz.extract_dataset, attnviz.extract_generation]
    for fn in entry_points:
        assert fn.__annotations__["model"] == "ModelLike", fn.__qualname__
        if "tokenizer" in fn.__annotations__:
            assert fn.__annotations__["tokenizer"] == "Tokenizer", fn.__qualname__
    assert attnviz.compare.__annotations__["before"] == "ModelLike | Capture"
    assert attnviz.notebook.neuron_view.__annotations__["model"] == "PreTrainedModel"
    assert "PreTrainedModel" in str(ModelLike) and "PreTrainedTokenizerBase" in str(Tokenizer)
