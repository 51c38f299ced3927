"""The stream benchmark's services: its own Kafka broker, fresh topics and groups, the worker
subprocess (through :mod:`ledger.worker_process`) and CPU accounting from /proc.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from base.settings import PROJECT_ROOT, Settings
from benchmarks.stream_common import OUT_DIR, STARTUP_TIMEOUT_S, WORKER_COMMAND, BenchError

# --- services ------------------------------------------------------------------------------------


@contextmanager
def bench_broker(bootstrap: str | None, data_dir: Path) -> Iterator[Settings]:
    """Settings for a broker: the given one, the environment's, or one started here."""
    settings = Settings.from_env().with_overrides(data_dir=data_dir, chdb_path=data_dir / "chdb")
    if bootstrap is None and os.environ.get("LEDGER_BENCH_USE_ENV_KAFKA") == "1":
        bootstrap = settings.kafka_bootstrap
    if bootstrap:
        yield settings.with_overrides(kafka_bootstrap=bootstrap)
        return
    from infra import process
    from infra.kafka_broker import KafkaBroker

    settings = settings.with_overrides(
        kafka_bootstrap=f"127.0.0.1:{process.free_port('127.0.0.1')}",
        kafka_controller_port=process.free_port("127.0.0.1"),
    )
    broker = KafkaBroker(settings)
    try:
        broker.start()
        yield settings
    finally:
        broker.stop()


def _tagged(settings: Settings, label: str, parent: Path, *, new_inputs: bool) -> Settings:
    """``settings`` with a tagged app id, output topics, web port and data dir under ``parent``
    (and tagged input topics if ``new_inputs``)."""
    from infra import process

    tag = f"{label}-{uuid.uuid4().hex[:8]}"
    data_dir = parent / tag
    data_dir.mkdir(parents=True)
    inputs = (
        {"topic_crossings": f"bench.crossings.{tag}", "topic_permits": f"bench.permits.{tag}"}
        if new_inputs
        else {}
    )
    return settings.with_overrides(
        **inputs,
        topic_decisions=f"bench.decisions.{tag}",
        topic_deadletter=f"bench.deadletter.{tag}",
        app_id=f"bench-stream-{tag}",
        worker_web_port=process.free_port("127.0.0.1"),
        data_dir=data_dir,
        chdb_path=data_dir / "chdb",
    )


def fresh_settings(settings: Settings, label: str) -> Settings:
    """Settings with four fresh topics (4 partitions by default), app id, web port, data dir."""
    from infra.kafka_broker import ensure_kafka_security, ensure_topics, project_topics

    fresh = _tagged(settings, label, settings.data_dir, new_inputs=True)
    ensure_topics(fresh, project_topics(fresh))
    ensure_kafka_security(fresh)
    return fresh


def new_group(settings: Settings, label: str) -> Settings:
    """The same input topics, read by a fresh consumer group (app id) with its own output topics,
    port and data dir (beside ``settings``')."""
    from infra.kafka_broker import ensure_kafka_security

    fresh = _tagged(settings, label, settings.data_dir.parent, new_inputs=False)
    ensure_kafka_security(fresh)  # the new group's and outputs' ACLs
    return fresh


class Worker:
    """``ledger worker`` as a subprocess with its log under var/bench; stopped on exit."""

    def __init__(
        self,
        settings: Settings,
        log_path: Path,
        profile: Path | None = None,
        command: tuple[str, ...] = WORKER_COMMAND,
    ) -> None:
        from ledger.worker_process import start_worker

        self.settings = settings
        self.log_path = log_path
        # Under cProfile the stats are written when the worker exits after SIGTERM.
        profiled = () if profile is None else ("-m", "cProfile", "-o", str(profile))
        self.proc = start_worker(
            settings, log_path, command=(*profiled, *command), cwd=PROJECT_ROOT
        )
        self.started = time.monotonic()

    def health(self) -> dict[str, Any] | None:
        """The /health/ document, or None while the web server does not answer."""
        if self.proc.poll() is not None:
            raise BenchError(
                f"the worker exited with status {self.proc.returncode}; log tail:\n{self.tail()}"
            )
        url = f"http://127.0.0.1:{self.settings.worker_web_port}/health/"
        try:
            with urllib.request.urlopen(url, timeout=2.0) as response:
                doc: dict[str, Any] = json.loads(response.read())
                return doc
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def wait_assigned(self, partitions: int, timeout: float = STARTUP_TIMEOUT_S) -> float:
        """Wait until /health/ lists every input partition; returns seconds since start."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            doc = self.health()
            if doc is not None and len(doc.get("partitions", ())) >= partitions:
                return time.monotonic() - self.started
            time.sleep(0.1)
        raise BenchError(
            f"worker not assigned {partitions} partitions in {timeout:.0f}s:\n{self.tail()}"
        )

    def cpu_seconds(self) -> float:
        """User + system CPU the worker process has used so far."""
        return cpu_seconds(self.proc.pid)

    def log_problems(self) -> list[str]:
        """Log lines that look like errors, except the coordinator lookup a fresh group retries."""
        text = self.log_path.read_text(errors="replace")
        marks = ("ERROR", "CRITICAL", "Traceback", "Exception")
        return [
            line
            for line in text.splitlines()
            if any(m in line for m in marks) and "GroupCoordinatorNotAvailableError" not in line
        ]

    def buffer_full_warnings(self) -> int:
        """Faust's "producer buffer full" warnings (changelog writes waiting for the producer)."""
        return self.log_path.read_text(errors="replace").count("producer buffer full")

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        from ledger.worker_process import stop_process

        stop_process(self.proc, grace_seconds=20)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc (0.0 if unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processes of the machine have used (every core, from /proc/stat)."""
    try:
        jiffies = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = jiffies[3] + (jiffies[4] if len(jiffies) > 4 else 0)  # idle + iowait
    return (sum(jiffies[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@contextmanager
def running_bench_worker(
    settings: Settings,
    phase: str,
    profile: Path | None = None,
    command: tuple[str, ...] = WORKER_COMMAND,
) -> Iterator[Worker]:
    worker = Worker(settings, OUT_DIR / f"stream-worker-{phase}.log", profile, command)
    try:
        yield worker
    finally:
        worker.stop()
