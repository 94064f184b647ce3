"""Every public name has a docstring with an example, and every example runs."""
from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil

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
