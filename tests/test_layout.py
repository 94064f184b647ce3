"""The package root stays small, and every module that moved is still importable by its old path."""
from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import attnviz

ROOT = Path(attnviz.__file__).parent


def test_the_package_root_holds_at_most_ten_modules():
    modules = sorted(p.name for p in ROOT.glob("*.py") if p.name != "__init__.py")
    assert len(modules) <= 10, f"attnviz/ holds {len(modules)} modules: {modules}"
    assert not [old for old in attnviz.MOVED if (ROOT / f"{old}.py").exists()], "no shim files at the root"


@pytest.mark.parametrize("old,new", sorted(attnviz.MOVED.items()))
def test_an_old_path_is_the_new_module(old, new):
    assert importlib.import_module(f"attnviz.{old}") is importlib.import_module(new)
    assert sys.modules[f"attnviz.{old}"] is sys.modules[new]


def test_old_paths_in_every_import_form():
    import attnviz.comparison.stats
    import attnviz.extraction.streaming
    import attnviz.streaming
    from attnviz.comparison_stats import statistics
    from attnviz.extract import tokenize_texts
    from attnviz.training_setup import data_collator

    assert attnviz.streaming is attnviz.extraction.streaming
    assert statistics is attnviz.comparison.stats.statistics
    assert tokenize_texts is importlib.import_module("attnviz.extraction.inputs").tokenize_texts
    assert data_collator is importlib.import_module("attnviz.training.setup").data_collator
    assert callable(attnviz.extract), "importing attnviz.extract leaves attnviz.extract the function"


def test_monkeypatching_an_old_path_patches_the_real_module(monkeypatch):
    import attnviz.streaming
    new = importlib.import_module("attnviz.extraction.streaming")
    monkeypatch.setattr(attnviz.streaming, "NAME", "patched")
    assert new.NAME == "patched"


def test_the_public_api_is_unchanged():
    assert attnviz.finetune is importlib.import_module("attnviz.training.finetuning").finetune
    assert attnviz.compare is importlib.import_module("attnviz.comparison").compare
    assert attnviz.trajectory is importlib.import_module("attnviz.comparison.noise").trajectory
    assert attnviz.extract_generation is importlib.import_module("attnviz.extraction.generate").extract_generation
    assert attnviz.extract is importlib.import_module("attnviz.extraction.extract").extract


def test_old_paths_import_lazily_in_a_fresh_interpreter():
    code = ("import sys, attnviz; assert 'attnviz.training.finetuning' not in sys.modules; "
            "assert 'transformers.trainer' not in sys.modules; "
            "import attnviz.training_result, attnviz.comparison_noise; "
            "assert 'attnviz.training.finetuning' not in sys.modules; "
            "assert attnviz.comparison_noise is sys.modules['attnviz.comparison.noise']")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ,
                   "PYTHONPATH": str(ROOT.parent)})
