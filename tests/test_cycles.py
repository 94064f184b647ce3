"""No import cycle between attnviz's modules, deferred imports included (one documented exception)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

# the import scanner of the layer test (tests/ is not a package: loaded by path)
_spec = importlib.util.spec_from_file_location("attnviz_test_layout", Path(__file__).with_name("test_layout.py"))
assert _spec is not None and _spec.loader is not None
_layout = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_layout)
ROOT, _imports, _module_name = _layout.ROOT, _layout._imports, _layout._module_name

#: Edges a cycle may use, each with its reason (CONTRIBUTING.md names the same exception).
ALLOWED = {("attnviz.capture", "attnviz.plot"): "Capture.plot() draws with plot.head_grid, as pandas' .plot"}


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """module -> the attnviz modules it imports (at the top or deferred), the package root left out."""
    modules = {_module_name(p, root) for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for path in root.rglob("*.py"):
        module = _module_name(path, root)
        for target, _line in _imports(path, root):
            while target not in modules and "." in target:  # `from attnviz.x import name` -> attnviz.x
                target = target.rsplit(".", 1)[0]
            if target in modules and target not in (module, "attnviz") and (module, target) not in ALLOWED:
                graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_import_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_the_cycle_check_sees_a_deferred_cycle(tmp_path):
    root = tmp_path / "attnviz"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "a.py").write_text("from attnviz.b import f\n")
    (root / "b.py").write_text("def f():\n    from attnviz import a\n")
    (root / "c.py").write_text("from attnviz.a import f\n")
    assert cycles(import_graph(root)) == [["attnviz.a", "attnviz.b"]]
