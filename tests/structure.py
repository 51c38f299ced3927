"""Measures the shape of the code: module and function sizes, and the import graph between modules.

The architecture tests (``tests/unit/test_structure.py``) use it to enforce the style guide's size
limits, the absence of import cycles and the layer order; ``python -m tests.structure`` prints the
size distributions quoted in the closing notes. Everything is read with :mod:`ast` from the source
files, nothing is imported, so a broken module cannot hide from it.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = (
    "base",
    "domain",
    "schemas",
    "streams",
    "producers",
    "infra",
    "ledger",
    "auditor",
    "benchmarks",
)
MODULE_LIMIT = 400
FUNCTION_LIMIT = 60


@dataclass(frozen=True)
class Function:
    """One function or method: its qualified name and its length in lines (decorators excluded)."""

    module: str
    name: str
    lines: int


def module_name(path: Path) -> str:
    """``streams/worker/app.py`` -> ``streams.worker.app`` (an ``__init__`` names its package)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(packages: tuple[str, ...] = PACKAGES) -> Iterator[Path]:
    """Every Python file of the packages, in a stable order."""
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def module_lines(path: Path) -> int:
    """Physical lines of a file."""
    return len(path.read_text(encoding="utf-8").splitlines())


def functions(path: Path) -> Iterator[Function]:
    """Every function and method of a module, nested ones included."""
    module = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))

    def walk(node: ast.AST, prefix: str) -> Iterator[Function]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                end = child.end_lineno or child.lineno
                yield Function(module, name, end - child.lineno + 1)
                yield from walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def imports(path: Path) -> set[str]:
    """Modules a file imports (absolute names; relative imports resolved), at any depth."""
    module = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                drop = node.level - 1 if is_package else node.level
                anchor = anchor[: len(anchor) - drop] if drop else anchor
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def module_graph(packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from a import b`` counts as a.b if b is one)."""
    paths = {module_name(p): p for p in source_files(packages)}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        graph[name] = {target for target in imports(path) if target in paths and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def collapse(graph: dict[str, set[str]], depth: int) -> dict[str, set[str]]:
    """The graph between module name prefixes of ``depth`` parts (1: top-level packages)."""
    collapsed: dict[str, set[str]] = {}
    for source, targets in graph.items():
        head = ".".join(source.split(".")[:depth])
        edges = collapsed.setdefault(head, set())
        edges.update(".".join(t.split(".")[:depth]) for t in targets)
        edges.discard(head)
    return collapsed


def histogram(values: list[int], bounds: tuple[int, ...]) -> list[tuple[str, int]]:
    """Counts per bucket ``<= bound`` plus one open bucket above the last bound."""
    rows: list[tuple[str, int]] = []
    lower = 0
    for bound in bounds:
        rows.append((f"{lower + 1}-{bound}", sum(1 for v in values if lower < v <= bound)))
        lower = bound
    rows.append((f">{lower}", sum(1 for v in values if v > lower)))
    return rows


def report() -> str:
    """The size distributions and the offenders against the limits, as Markdown."""
    files = list(source_files())
    sizes = {module_name(p): module_lines(p) for p in files}
    funcs = [f for p in files for f in functions(p)]
    out = [f"modules: {len(sizes)}, lines: {sum(sizes.values())}, functions: {len(funcs)}", ""]
    out.append("| module lines | modules |\n|---|---|")
    out += [f"| {b} | {n} |" for b, n in histogram(list(sizes.values()), (100, 200, 300, 400))]
    out.append("\n| function lines | functions |\n|---|---|")
    out += [f"| {b} | {n} |" for b, n in histogram([f.lines for f in funcs], (10, 20, 40, 60, 100))]
    big = sorted(((n, m) for m, n in sizes.items() if n > MODULE_LIMIT), reverse=True)
    out.append("\nmodules over the limit: " + ", ".join(f"{m} ({n})" for n, m in big))
    long = sorted((f for f in funcs if f.lines > FUNCTION_LIMIT), key=lambda f: -f.lines)
    out.append(
        "functions over the limit: " + ", ".join(f"{f.module}.{f.name} ({f.lines})" for f in long)
    )
    graph = module_graph()
    out.append("\nmodule cycles: " + "; ".join(" <-> ".join(c) for c in cycles(graph)))
    out.append("package cycles: " + "; ".join(" <-> ".join(c) for c in cycles(collapse(graph, 1))))
    return "\n".join(out)


if __name__ == "__main__":
    print(report())
