"""MkDocs hook: pages made at build time, from the code, so the site can never drift from it.

* ``live/*.html``: the HTML views (head, model, explorer, neuron) of the packaged MiniLM
  (a tiny random BERT where MiniLM is not installed), made by attnviz itself; they are
  self-contained, so the site shows them live, offline.
* ``gallery.md`` and ``gallery/*.png``: gallery/README.md with, under each figure, the code of
  gallery/make_gallery.py that draws it.
* ``api/*.md``: one page per module that defines public names (``__all__``), each name rendered
  from its docstring by mkdocstrings, and ``api/index.md`` listing every public name.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import re
import warnings
from collections import defaultdict
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[2]
#: The texts of the live views: a sentence pair, as the explorer's pair filter shows.
VIEW_TEXTS = ["The cat sat on the mat because it was warm.", "She gave him the book that he had asked for."]


def _views() -> dict[str, str]:
    """name -> self-contained HTML of each view."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    warnings.simplefilter("ignore")
    import attnviz
    from attnviz import notebook

    try:
        from attnviz.modeling import default_model_path, load_model

        model, tok = load_model(default_model_path())
        note = "all-MiniLM-L6-v2 (real pretrained weights)"
    except Exception:  # noqa: BLE001 - MiniLM not installed: a tiny random model, said on the page
        from attnviz.testing import tiny_model

        model, tok = tiny_model("bert")
        note = "a tiny BERT with random weights (MiniLM is not installed), so the maps show no learned pattern"
    cap = attnviz.extract(model, VIEW_TEXTS, tokenizer=tok, progress=False)
    views = {
        "head": notebook.head_view(cap, example=0, layer=2, title=f"head view: {note}"),
        "model": notebook.model_view(cap, example=0, title=f"model view: {note}"),
        "explorer": notebook.explorer_view(cap, title=f"explorer: {note}"),
        "neuron": notebook.neuron_view(model, cap, example=0, layer=2, head=5, title=f"neuron view: {note}"),
    }
    return {name: str(view) for name, view in views.items()}


def _gallery() -> tuple[str, list[Path]]:
    """(markdown, images) of the gallery page."""
    folder = ROOT / "gallery"
    text = (folder / "README.md").read_text(encoding="utf-8")
    source = (folder / "make_gallery.py").read_text(encoding="utf-8")
    functions = {node.name: ast.get_source_segment(source, node)
                 for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    out, shown = [], set()
    for section in re.split(r"(?m)^(?=## )", text):
        out.append(re.sub(r"\]\(([\w.-]+\.png)\)", r"](gallery/\1)", section))
        pngs = re.findall(r"\]\(([\w.-]+\.png)\)", section)
        makers = [name for name, code in functions.items() if code and any(f'"{p}"' in code for p in pngs)]
        for name in makers:
            if name not in shown:
                shown.add(name)
                out.append(f"\n??? example \"The code: `{name}` in gallery/make_gallery.py\"\n\n"
                           + "    ```python\n" + "\n".join("    " + line for line in functions[name].splitlines())
                           + "\n    ```\n\n")
    helpers = [n for n in ("save", "minilm") if n in functions]
    if helpers:
        out.append("\n## The helpers the figures share\n\n```python\n"
                   + "\n\n\n".join(functions[n] for n in helpers) + "\n```\n")
    return "".join(out), sorted(folder.glob("*.png"))


def public_names() -> dict[str, list[tuple[str, object]]]:
    """defining module -> [(public path, object)]: every function and class in a module's ``__all__``, once."""
    import attnviz

    modules = sorted(info.name for info in pkgutil.walk_packages(attnviz.__path__, prefix="attnviz.")
                     if not info.name.split(".")[-1].startswith("__"))
    by_module: dict[str, list[tuple[str, object]]] = defaultdict(list)
    seen: set[int] = set()
    for name in ["attnviz", *modules]:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr, None)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)) or id(obj) in seen:
                continue
            home = getattr(obj, "__module__", "") or ""
            if not home.startswith("attnviz"):
                continue
            seen.add(id(obj))
            by_module[home].append((f"{name}.{attr}", obj))
    return dict(sorted(by_module.items()))


def _api() -> dict[str, str]:
    """page path -> markdown of the API reference."""
    pages: dict[str, str] = {}
    index = ["# API reference\n",
             "Every public name of attnviz, rendered from its docstring (each has a runnable example, run by "
             "`tests/test_docs.py`). Names are listed where you import them from; each links to the module "
             "that defines it.\n",
             "| name | what it is |", "|---|---|"]
    for module, entries in public_names().items():
        page = f"api/{module.removeprefix('attnviz.') or 'attnviz'}.md"
        doc = inspect.getdoc(importlib.import_module(module)) or ""
        first = re.sub(r":(?:class|func|meth|mod|attr|data|exc|obj):`~?([^`]+)`", r"`\1`",
                       doc.split("\n\n")[0].replace("\n", " "))
        lines = [f"# `{module}`\n", first + "\n" if first else ""]
        for public, obj in sorted(entries, key=lambda e: e[0]):
            qual = f"{obj.__module__}.{obj.__qualname__}"
            if "<locals>" in qual:  # a class built on first use (the ipywidgets Explorer): the function that makes it
                continue
            summary = (inspect.getdoc(obj) or "").split("\n")[0].replace("|", "\\|")
            index.append(f"| [`{public}`]({page.removeprefix('api/')}#{qual}) | {summary} |")
            lines.append(f"::: {qual}\n")
        pages[page] = "\n".join(lines)
    pages["api/index.md"] = "\n".join(index) + "\n"
    return pages


def on_files(files: Files, config) -> Files:
    text, images = _gallery()
    files.append(File.generated(config, "gallery.md", content=text))
    for png in images:
        files.append(File.generated(config, f"gallery/{png.name}", abs_src_path=str(png)))
    for path, content in _api().items():
        files.append(File.generated(config, path, content=content))
    for name, html in _views().items():
        files.append(File.generated(config, f"live/{name}.html", content=html))
    return files
