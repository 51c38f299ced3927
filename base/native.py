"""Choosing between the domain's compiled (mypyc) modules and its sources, at import.

``infra/build_native.py`` (run by ``make setup``) may compile the domain package's modules with
mypyc. The compiled modules are used only when ``native.stamp`` holds the digest of the sources
beside them and mypyc's runtime is installed: edited sources never run as stale native code.
Otherwise the modules are imported from their sources, with a warning naming the reason;
``LEDGER_NATIVE=0`` asks for the sources without one. Both run the same code: the results are
the same, only the speed differs. This reads files and the environment, which the domain itself
never does: ``domain/__init__.py`` only calls :func:`choose_modules`.
"""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from importlib.machinery import EXTENSION_SUFFIXES, SOURCE_SUFFIXES, FileFinder, SourceFileLoader
from importlib.util import find_spec
from pathlib import Path

NATIVE_GROUP = "domain_native"  # mypyc's shared runtime is the module domain_native__mypyc
STAMP_NAME = "native.stamp"


def compiled_modules(root: Path) -> list[Path]:
    """The extension modules under ``root``."""
    return sorted(p for p in root.rglob("*") if any(p.name.endswith(s) for s in EXTENSION_SUFFIXES))


def sources_digest(root: Path) -> str:
    """SHA-256 over the path and bytes of every source file under ``root``."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def stamp_matches(root: Path) -> bool:
    """Whether ``root``'s stamp holds the digest of the sources now under ``root``."""
    stamp = root / STAMP_NAME
    return stamp.exists() and stamp.read_text().strip() == sources_digest(root)


def _refusal(root: Path, group: str) -> str | None:
    """Why the compiled modules under ``root`` may not be used, or ``None`` if they may."""
    if not stamp_matches(root):
        return "they were built from other sources than these (make setup rebuilds them)"
    if find_spec(f"{group}__mypyc") is None:
        return f"mypyc's runtime ({group}__mypyc) is not installed in this environment"
    return None


def _import_sources(locations: list[str]) -> None:
    """Make the import system read this package's modules from their sources only."""
    for location in locations:
        for directory, _dirs, files in os.walk(location):
            if "__init__.py" in files:
                sys.path_importer_cache[directory] = FileFinder(
                    directory, (SourceFileLoader, SOURCE_SUFFIXES)
                )


def choose_modules(locations: list[str], group: str = NATIVE_GROUP) -> None:
    """Let the package at ``locations`` import its compiled modules only if they may be used
    (``group``: the mypyc build group, whose shared runtime they import)."""
    root = Path(locations[0])
    if not compiled_modules(root):
        return
    if os.environ.get("LEDGER_NATIVE", "1") == "0":
        _import_sources(locations)
        return
    reason = _refusal(root, group)
    if reason is not None:
        warnings.warn(
            f"domain: running from the sources, not the compiled modules: {reason}",
            RuntimeWarning,
            stacklevel=2,
        )
        _import_sources(locations)
