"""The domain package stays pure: no framework, broker or store imports, no clock, no randomness,
no files (no pathlib, no importlib resources, no reads), no wire formats (no json, no Avro)."""

from __future__ import annotations

import ast
from pathlib import Path

import domain

DOMAIN = Path(domain.__file__).parent
FORBIDDEN_MODULES = {
    "faust",
    "kafka",
    "aiokafka",
    "clickhouse_driver",
    "chdb",
    "fastavro",
    "avro",
    "mode",
    "rocksdict",
    "random",
    "secrets",
    "time",
    "socket",
    "subprocess",
    "requests",
    "urllib",
    "asyncio",
    "threading",
    "os",
    "pathlib",
    "importlib",
    "io",
    "shutil",
    "tempfile",
    "json",  # JSON forms live in schemas/ (mapping.py, jsonlines.py), not in the domain
}
FORBIDDEN_CALLS = {
    "now",
    "utcnow",
    "today",
    "time",
    "time_ns",
    "monotonic",
    "perf_counter",
    "random",
    "urandom",
    "uuid1",
    "uuid4",
    "open",
    "input",
    "print",
    "read_text",
    "read_bytes",
    "write_text",
    "write_bytes",
    "files",
}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] in FORBIDDEN_MODULES:
                found.append(f"{path.name}:{node.lineno} imports {name}")
        if isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in FORBIDDEN_CALLS:
                found.append(f"{path.name}:{node.lineno} calls {called}()")
    return found


def test_the_domain_package_imports_and_calls_nothing_impure() -> None:
    files = sorted(DOMAIN.rglob("*.py"))
    assert len(files) > 5
    problems = [v for f in files for v in _violations(f)]
    assert problems == []


def test_the_purity_check_catches_a_forbidden_import_and_call(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import faust\nfrom datetime import datetime\nx = datetime.now()\n")
    assert len(_violations(bad)) == 2


def test_the_purity_check_catches_file_reads(tmp_path: Path) -> None:
    bad = tmp_path / "reads.py"
    bad.write_text(
        "from importlib import resources\nfrom pathlib import Path\n"
        "a = resources.files('streams').joinpath('x.json').read_text()\n"
        "b = Path('x.json').read_text()\n"
    )
    assert sorted(v.split(" ", 1)[1] for v in _violations(bad)) == [
        "calls files()",
        "calls read_text()",
        "calls read_text()",
        "imports importlib",
        "imports pathlib",
    ]
