"""The shape of the code: imports point down the layers, no cycles, small modules and functions.

Read from the sources with :mod:`ast` (``tests/structure.py``); nothing is imported, so a module
that fails to import cannot hide from these checks.
"""

from __future__ import annotations

from tests.structure import (
    FUNCTION_LIMIT,
    MODULE_LIMIT,
    collapse,
    cycles,
    functions,
    module_graph,
    module_lines,
    module_name,
    source_files,
)

# Top-level packages from the bottom up. A package imports only packages of a lower layer: siblings
# (same layer) do not import each other. The auditor's verifier stands alone (imports nothing).
LAYERS: dict[str, int] = {
    "base": 0,
    "auditor": 0,
    "domain": 1,
    "schemas": 2,
    "streams": 3,
    "producers": 3,
    "infra": 4,
    "ledger": 5,
    "benchmarks": 6,
}


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import of a module from a package of the same or a higher layer than its own."""
    found = []
    for source, targets in sorted(graph.items()):
        package = source.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other != package and LAYERS[other] >= LAYERS[package]:
                found.append(f"{source} imports {target}")
    return found


def test_no_module_is_part_of_an_import_cycle() -> None:
    assert cycles(module_graph()) == []


def test_no_top_level_package_is_part_of_an_import_cycle() -> None:
    assert cycles(collapse(module_graph(), 1)) == []


def test_every_package_has_a_layer() -> None:
    assert set(collapse(module_graph(), 1)) == set(LAYERS)


def test_imports_point_down_the_layers() -> None:
    assert layer_violations(module_graph()) == []


def test_the_layer_check_catches_an_upward_and_a_sideways_import() -> None:
    graph = {"domain.x": {"base.y", "ledger.cli"}, "streams.a": {"producers.b", "schemas.c"}}
    assert layer_violations(graph) == [
        "domain.x imports ledger.cli",
        "streams.a imports producers.b",
    ]


def test_the_graph_reader_finds_a_cycle_when_there_is_one() -> None:
    graph = {"a.x": {"b.y"}, "b.y": {"a.z"}, "a.z": set()}
    assert cycles(graph) == []
    assert cycles(collapse(graph, 1)) == [["a", "b"]]
    graph["a.z"].add("a.x")
    assert cycles(graph) == [["a.x", "a.z", "b.y"]]


def test_no_module_is_over_the_line_limit() -> None:
    sizes = {module_name(path): module_lines(path) for path in source_files()}
    assert {name: n for name, n in sizes.items() if n > MODULE_LIMIT} == {}


def test_no_function_is_over_the_line_limit() -> None:
    long = {
        f"{f.module}.{f.name}": f.lines
        for path in source_files()
        for f in functions(path)
        if f.lines > FUNCTION_LIMIT
    }
    assert long == {}
