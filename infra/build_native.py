"""Compile the domain package to native code with mypyc (``make setup`` runs this).

The rules engine is pure, strictly typed Python; mypyc, mypy's compiler, turns the same modules
into C extensions that run it about 1.4x faster. Nothing else changes: the sources stay the truth,
and ``base/native.py`` falls back to them (with a warning) whenever the compiled modules do
not match them, so edited code never runs stale.

The build runs in a temporary copy of the sources. The extension modules are then placed beside
the sources (``domain/**/*.so``, ignored by git), and mypyc's shared runtime, a top-level module
named ``domain_native__mypyc``, into the environment's site-packages, as a wheel would install it.
Last comes ``domain/native.stamp``, the digest of the sources compiled.

    .venv/bin/python -m infra.build_native [--clean | --force]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

from base.native import (
    NATIVE_GROUP,
    STAMP_NAME,
    compiled_modules,
    sources_digest,
    stamp_matches,
)
from base.settings import PROJECT_ROOT

DOMAIN = PROJECT_ROOT / "domain"

# Run in the build directory: mypycify's paths are relative to it, and build_ext --inplace puts
# each extension beside its source there. Interpreted modules: the package __init__ files (the
# top one chooses between the compiled and the interpreted modules), and the event types, whose
# annotations other layers read at run time (a compiled dataclass keeps ``X | None`` as ``type``).
_SETUP = """
import sys
from pathlib import Path
from mypyc.build import mypycify
from setuptools import setup

interpreted = {"__init__.py", "events.py"}
paths = sorted(str(p) for p in Path("domain").rglob("*.py") if p.name not in interpreted)
setup(
    name="domain-native",
    ext_modules=mypycify(paths, opt_level="3", group_name=sys.argv[1]),
    script_args=["build_ext", "--inplace", "--parallel", "2"],
)
"""


def clean() -> list[Path]:
    """Remove the compiled modules, the stamp and the shared runtime; return what was removed."""
    removed = [*compiled_modules(DOMAIN), *_runtimes()]
    stamp = DOMAIN / STAMP_NAME
    if stamp.exists():
        removed.append(stamp)
    for path in removed:
        path.unlink()
    return removed


def up_to_date() -> bool:
    """Whether the compiled modules present were built from the sources now present, and
    mypyc's runtime is installed."""
    return stamp_matches(DOMAIN) and bool(compiled_modules(DOMAIN)) and bool(_runtimes())


def build() -> None:
    """Compile the domain modules and install them (see the module docstring)."""
    digest = sources_digest(DOMAIN)
    with tempfile.TemporaryDirectory(prefix="domain-native-") as tmp:
        work = Path(tmp)
        skip = shutil.ignore_patterns("*.so", "*.pyc", "__pycache__")
        shutil.copytree(DOMAIN, work / "domain", ignore=skip)
        shutil.copytree(PROJECT_ROOT / "base", work / "base", ignore=skip)  # imported, not built
        result = subprocess.run(
            [sys.executable, "-c", _SETUP, NATIVE_GROUP],
            cwd=work,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            raise SystemExit(f"build_native: mypyc failed (exit {result.returncode})")
        clean()
        built = sorted((work / "domain").rglob("*.so"))
        for module in built:
            shutil.copy2(module, DOMAIN / module.relative_to(work / "domain"))
        runtime = next(work.glob(f"{NATIVE_GROUP}__mypyc*.so"))
        shutil.copy2(runtime, Path(sysconfig.get_paths()["platlib"]) / runtime.name)
    # Written last: a build interrupted before this point leaves modules the guard refuses.
    (DOMAIN / STAMP_NAME).write_text(digest + "\n")
    print(f"build_native: {len(built)} domain modules compiled with mypyc")


def _runtimes() -> list[Path]:
    return sorted(Path(sysconfig.get_paths()["platlib"]).glob(f"{NATIVE_GROUP}__mypyc*.so"))


def main(argv: list[str] | None = None) -> int:
    """Build (or with ``--clean`` remove) the compiled domain modules."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--clean", action="store_true", help="remove them: run interpreted")
    parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
    args = parser.parse_args(argv)
    if args.clean:
        for path in clean():
            print(f"build_native: removed {path}")
        return 0
    if up_to_date() and not args.force:
        print("build_native: the compiled domain modules are up to date")
        return 0
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        # Not an error: the domain runs from its sources, the same results more slowly.
        print("build_native: WARNING no C compiler (cc or gcc): the domain runs interpreted")
        clean()
        return 0
    start = time.monotonic()
    build()
    print(f"build_native: done in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
