"""``ledger worker`` as a child process: the one launcher the main job, the tests and the benchmarks
share.

The child gets the parent's settings through ``LEDGER_*`` variables (:func:`settings_env`), writes
stdout and stderr to one log file, and is stopped with SIGTERM, then SIGKILL after a grace period.
It dies with its parent (SIGKILL from the kernel, :func:`infra.process.die_with_parent`): a job or
test killed by a timeout leaves no worker running on as an orphan.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

from base.errors import LedgerError
from base.settings import Settings
from infra.process import die_with_parent


class WorkerExitedError(LedgerError):
    """The worker process exited while it was expected to run."""


# ``ledger worker`` at info level: the main job's and the tests' form (the log shows its progress).
WORKER_COMMAND: tuple[str, ...] = ("-m", "ledger", "worker", "--loglevel", "info")


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``LEDGER_*`` variables that reproduce ``settings`` in a child process."""
    env: dict[str, str] = {}
    for f in fields(settings):
        value = getattr(settings, f.name)
        if value is not None:
            env[f"LEDGER_{f.name.upper()}"] = str(value)
    return env


def start_worker(
    settings: Settings,
    log_path: Path,
    *,
    command: Sequence[str] = WORKER_COMMAND,
    extra_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``python <command>`` with ``settings`` in its environment, logging to ``log_path``.

    ``extra_env`` adds variables of the child's own (e.g. Faust's ``BROKER_SESSION_TIMEOUT``);
    ``cwd`` defaults to the caller's (relative paths in the settings mean the same to both).
    Start it from the main thread: it is killed when the thread that started it exits.
    """
    env = dict(os.environ)
    env.update(settings_env(settings))
    env.update(extra_env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            preexec_fn=die_with_parent(),  # noqa: PLW1509 (no lock, no import: see there)
        )


def stop_process(proc: subprocess.Popen[bytes], grace_seconds: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within ``grace_seconds``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def running_worker(
    settings: Settings,
    log_path: Path,
    *,
    command: Sequence[str] = WORKER_COMMAND,
    extra_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    grace_seconds: float = 30.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """:func:`start_worker` as a context manager that stops the worker on exit."""
    proc = start_worker(settings, log_path, command=command, extra_env=extra_env, cwd=cwd)
    try:
        yield proc
    finally:
        stop_process(proc, grace_seconds)


def worker_lag(settings: Settings, worker: subprocess.Popen[bytes], log_path: Path) -> int:
    """Messages the worker's group has not committed on the input topics; -1 while unknown.

    Raises :class:`WorkerExitedError` with the log tail if the worker process has exited.
    """
    from streams.ops import LagUnavailableError, consumer_lag

    if worker.poll() is not None:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise WorkerExitedError(f"the worker exited with status {worker.returncode}:\n{tail}")
    topics = (settings.topic_crossings, settings.topic_permits)
    try:
        return sum(p.lag for p in consumer_lag(settings, settings.app_id, topics))
    except LagUnavailableError as e:
        if not e.retriable:
            raise
        return -1  # unknown yet: keep waiting
