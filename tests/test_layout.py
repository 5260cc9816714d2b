"""The package's layout: imports flow one way through the stages of the data flow, with no cycle.

Every import between lstmgen's modules counts, deferred ones inside functions included (a deferred import
still ties two modules together). ``from .package import name`` is an edge to the package's face unless
``name`` is one of its modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lstmgen

PACKAGE = Path(lstmgen.__file__).parent

# The stages, lowest first (docs/guide.md, "Architecture in one screen"): a module may import its own stage
# and those below it, never one above.
STAGES = [
    {"system", "version"},
    {"config"},
    {"tokenizers", "model"},
    {"data", "decoding", "checkpoint", "music"},
    {"evaluation"},
    {"language_model", "export"},
    {"training"},
    {"gan"},
    {"experiments"},
    {"cli", "server", "__init__", "__main__"},
]
RANK = {part: rank for rank, parts in enumerate(STAGES) for part in parts}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("lstmgen", *path.relative_to(PACKAGE).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges = graph.setdefault(name, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    edges.add(submodule if submodule in modules else target)
            elif isinstance(node, ast.Import):
                edges.update(alias.name for alias in node.names)
        edges &= set(modules)
        edges.discard(name)
    return graph


def _stage(module: str) -> int:
    parts = module.split(".")
    return RANK[parts[1]] if len(parts) > 1 else RANK["__init__"]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_module_belongs_to_a_stage():
    for module in _modules():
        parts = module.split(".")
        assert len(parts) == 1 or parts[1] in RANK, f"{module} is in no stage of STAGES: add its folder to the table"


def test_no_import_cycle_among_lstmgen_modules():
    assert _cycles(_imports(_modules())) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_never_climb_back_up_the_stages():
    climbing = [f"{source} -> {target}" for source, targets in _imports(_modules()).items() for target in targets
                if _stage(target) > _stage(source)]
    assert climbing == []


def test_the_core_stays_flat():
    top_level = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(top_level) <= 8, top_level
