"""Helpers shared by the worker integration and end-to-end tests: run the worker as a real
subprocess against the session broker, with per-test topics and consumer group."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.job import settings_env, worker_lag
from streams.settings import PROJECT_ROOT, Settings


def isolated_settings(base: Settings, make_topic: Callable[..., str], data_dir: Path) -> Settings:
    """Settings with four fresh topics, a fresh app id and its own data dir."""
    partitions = base.partitions
    return base.with_overrides(
        topic_crossings=make_topic("crossings", partitions),
        topic_permits=make_topic("permits", partitions),
        topic_decisions=make_topic("decisions", partitions),
        topic_deadletter=make_topic("deadletter", partitions),
        app_id=f"test-ledger-{uuid.uuid4().hex[:8]}",
        data_dir=data_dir,
        chdb_path=data_dir / "chdb",
    )


@contextmanager
def running_worker(settings: Settings, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``ledger worker`` as a subprocess; terminated (then killed) on exit."""
    env = dict(os.environ)
    env.update(settings_env(settings))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streams", "worker", "--loglevel", "info"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=PROJECT_ROOT,
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until_worker_consumed(
    settings: Settings, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 120.0
) -> None:
    """Poll the worker group's lag on the input topics until it is zero (or fail loudly)."""
    deadline = time.monotonic() + timeout
    lag = -1
    while time.monotonic() < deadline:
        lag = worker_lag(settings, proc, log_path)
        if lag == 0:
            return
        time.sleep(0.5)
    raise AssertionError(
        f"worker still {lag} behind after {timeout}s:\n{log_path.read_text()[-4000:]}"
    )
