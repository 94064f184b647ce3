"""Every public name has a docstring with an example, and every example runs."""
from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import pkgutil
import re
import warnings
from pathlib import Path

import pytest

import attnviz

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(attnviz.__path__, prefix="attnviz.")
    if not info.name.split(".")[-1].startswith("__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def _public_objects():
    seen = []
    for name in MODULES + ["attnviz"]:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                seen.append((f"{name}.{attr}", obj))
    return seen


@pytest.mark.parametrize("qualname,obj", _public_objects(), ids=lambda v: v if isinstance(v, str) else "")
def test_public_names_have_an_example(qualname, obj):
    doc = inspect.getdoc(obj) or ""
    assert doc, f"{qualname} has no docstring"
    assert ">>>" in doc, f"{qualname}'s docstring has no example"


# --- the README's code ---------------------------------------------------------------------------
README = Path(__file__).resolve().parents[1] / "README.md"
#: Blocks not run: they fine-tune MiniLM twice, or need a Ray cluster and /shared paths; their calls
#: are still checked to be in the one call form (test_readme_blocks_use_the_one_call_form).
NOT_RUN = ("finetune_seeds(", "address=\"auto\"")
#: fn(model, data, *, tokenizer=None): entry points whose second argument is the data.
ENTRY_POINTS = {"extract", "extract_generation", "dataset_stats", "logit_lens", "head_importance", "pruning_curve",
                "finetune", "finetune_seeds", "extract_dataset"}


#: The guides of the documentation site, in the site's order: their blocks run after the README's (the README's
#: long sections moved there), in the same namespace, as a reader goes on from the quick start.
GUIDES = ["paper-figures", "notebooks", "long-inputs", "checkpoints", "datasets", "captures", "images", "causal",
          "cli"]


def _readme_blocks() -> list[str]:
    """The Python blocks of the README, then of each guide (docs/guides/*.md)."""
    files = [README] + [README.parent / "docs" / "guides" / f"{name}.md" for name in GUIDES]
    return [block for f in files for block in re.findall(r"```python\n(.*?)```", f.read_text(encoding="utf-8"),
                                                         flags=re.S)]


def test_every_guide_is_in_the_list():
    assert sorted(GUIDES) == sorted(p.stem for p in (README.parent / "docs" / "guides").glob("*.md"))


def test_readme_blocks_use_the_one_call_form():
    blocks = _readme_blocks()
    assert len(blocks) >= 5
    old = []
    for block in blocks:
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", None))
                if name in ENTRY_POINTS and len(node.args) >= 2 and isinstance(node.args[1], ast.Name) \
                        and "tok" in node.args[1].id:
                    old.append(ast.unparse(node))
    assert old == []


def test_readme_blocks_run_with_deprecation_warnings_as_errors(tmp_path, monkeypatch):
    """The README's blocks in order, in one namespace (as a reader pastes them), DeprecationWarning = error."""
    from attnviz.testing import save_tiny_model

    monkeypatch.chdir(tmp_path)
    save_tiny_model("bert", tmp_path / "run" / "best", head="sequence-classification")  # what `attnviz finetune` leaves
    namespace: dict = {"texts": [f"The film number {i} was good." for i in range(42)],
                       "long_text": " ".join(["attention is all you need"] * 40)}
    from attnviz.metrics import registered_metrics, unregister_metric

    before, ran = set(registered_metrics()), 0
    try:
        for block in _readme_blocks():
            if any(marker in block for marker in NOT_RUN):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("error", DeprecationWarning)
                exec(compile(block, str(README), "exec"), namespace)
            ran += 1
    finally:  # the guides register metrics ("first_max"): the registry is process-wide, leave it as found
        for name in set(registered_metrics()) - before:
            unregister_metric(name)
    assert ran >= 5 and isinstance(namespace["cap"], attnviz.Capture)
