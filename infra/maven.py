"""Fetching a service's runtime jars with Maven into the project cache, once.

Kafka (``infra/kafka/pom.xml``) and ZooKeeper (``infra/zookeeper/pom.xml``) are not built here:
their poms only list the official artifacts, and ``mvn dependency:copy-dependencies`` copies
them with their runtime dependencies into a cache directory. A marker file written after a
successful fetch makes the next call instant; a file lock keeps two processes (two test
sessions, say) from fetching into the same place at once.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.errors import InfraError

_MARKER_NAME = ".complete"


def fetch_jars(pom: Path, libs: Path, expected: str | tuple[str, ...], label: str) -> Path:
    """Copy ``pom``'s runtime jars into ``libs`` unless a complete copy is there; return it.

    ``expected`` is a glob (or several) the fetched jars must match, else the fetch failed; a
    copy missing one of them (fetched before the pom gained it) is fetched again.
    """
    globs = (expected,) if isinstance(expected, str) else expected
    if _complete(libs, globs):
        return libs
    libs.parent.mkdir(parents=True, exist_ok=True)
    with _locked(libs.parent / ".fetch.lock"):
        if _complete(libs, globs):
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise InfraError("Maven (mvn) is not on PATH; run infra/setup.sh first")
        staging = libs.parent / "libs.partial"
        shutil.rmtree(staging, ignore_errors=True)
        cmd = [
            *(mvn, "-q", "-B", "-f", str(pom)),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0 or not all(any(staging.glob(g)) for g in globs):
            output = (result.stdout + result.stderr).strip()[-4000:]
            raise InfraError(f"fetching {label} jars with Maven failed:\n{output}")
        shutil.rmtree(libs, ignore_errors=True)
        staging.rename(libs)
        (libs / _MARKER_NAME).write_text(f"{label}\n")
    return libs


def _complete(libs: Path, globs: tuple[str, ...]) -> bool:
    return (libs / _MARKER_NAME).exists() and all(any(libs.glob(g)) for g in globs)


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    with lock_file.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
