"""The domain compiled by mypyc (infra/build_native.py) decides exactly as its sources do, and
stale compiled modules never run (base/native.py).

The equivalence runs ``ledger check`` twice in subprocesses, compiled and interpreted
(``LEDGER_NATIVE=0``), over a simulated week with injected violations, late deliveries and an
``--as-of``: the outputs must be identical byte for byte.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from base.native import STAMP_NAME, choose_modules, compiled_modules, sources_digest
from base.settings import PROJECT_ROOT

DOMAIN = PROJECT_ROOT / "domain"


def _ledger(args: list[str], *, native: bool, stdin: bytes | None = None) -> bytes:
    env = {**os.environ, "LEDGER_NATIVE": "1" if native else "0"}
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-m", "ledger", *args],
        input=stdin,
        env=env,
        capture_output=True,
        check=True,
        timeout=240,
    )
    return done.stdout


def _engine_file(native: bool) -> str:
    env = {**os.environ, "LEDGER_NATIVE": "1" if native else "0"}
    code = "import domain.derive as m; print(m.__file__)"
    done = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_the_build_is_present_and_used() -> None:
    """make setup compiled the domain, and an import picks the compiled modules (not a stale
    build refused with a warning, which -W error turns into a failure here)."""
    assert compiled_modules(DOMAIN), "no compiled domain modules: run make setup"
    assert _engine_file(native=True).endswith(".so")
    assert _engine_file(native=False).endswith("derive.py")


@pytest.mark.timeout(600)
def test_compiled_and_interpreted_check_give_identical_output(tmp_path: Path) -> None:
    week = _ledger(
        ["simulate", "--days", "7", "--travellers", "1500", "--seed", "23", "--violations", "0.2"],
        native=False,
    )
    lines = week.splitlines(keepends=True)
    late = random.Random(5)
    for _ in range(len(lines) // 40):  # some events delivered well after their time
        lines.append(lines.pop(late.randrange(len(lines) // 2)))
    events = tmp_path / "week.jsonl"
    events.write_bytes(b"".join(lines))
    for extra in ([], ["--as-of", "2026-01-15T00:00:00Z"]):
        args = ["check", str(events), *extra]
        compiled = _ledger(args, native=True)
        assert compiled.count(b"\n") > 1000
        assert compiled == _ledger(args, native=False)


def _package(tmp_path: Path) -> Path:
    """A copy of the domain's sources with a fake compiled module and a matching stamp."""
    root = tmp_path / "pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "mod.py").write_text("X = 1\n")
    (root / f"mod{EXTENSION_SUFFIXES[0]}").write_bytes(b"not a real extension")
    (root / STAMP_NAME).write_text(sources_digest(root) + "\n")
    return root


def test_edited_sources_are_imported_from_source_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_NATIVE", "1")
    root = _package(tmp_path)
    (root / "mod.py").write_text("X = 2\n")  # edited after the build
    with pytest.warns(RuntimeWarning, match="built from other sources"):
        choose_modules([str(root)], group="no_such_group")
    finder = sys.path_importer_cache.pop(str(root))
    spec = finder.find_spec("pkg.mod")
    assert spec is not None and spec.origin == str(root / "mod.py")


def test_a_build_whose_runtime_is_missing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_NATIVE", "1")
    root = _package(tmp_path)  # the stamp matches, but the group's runtime is not installed
    with pytest.warns(RuntimeWarning, match="runtime"):
        choose_modules([str(root)], group="no_such_group")
    assert sys.path_importer_cache.pop(str(root)) is not None


def test_ledger_native_0_asks_for_the_sources_without_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGER_NATIVE", "0")
    root = _package(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        choose_modules([str(root)], group="no_such_group")
    spec = sys.path_importer_cache.pop(str(root)).find_spec("pkg.mod")
    assert spec is not None and spec.origin == str(root / "mod.py")


def test_no_build_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    (root / "__init__.py").write_text("")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        choose_modules([str(root)])
    assert str(root) not in sys.path_importer_cache
