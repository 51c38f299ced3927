"""Shared pieces of the stream benchmark: output place, limits, errors, the raw message."""

from __future__ import annotations

from dataclasses import dataclass

from base.settings import PROJECT_ROOT

OUT_DIR = PROJECT_ROOT / "var" / "bench"
TARGET_P99_MS = 500.0
HEALTH_POLL_S = 0.05
HEARTBEAT_EVERY_S = 0.5  # latency load: one gate heartbeat to every partition this often
STARTUP_TIMEOUT_S = 90.0
# ``ledger worker`` as users run it (default loglevel), and the Faust null agent (the ceiling).
WORKER_COMMAND = ("-m", "ledger", "worker")
NULL_AGENT_COMMAND = ("-m", "benchmarks.null_agent")


class BenchError(RuntimeError):
    """The benchmark could not measure something; the message says what and why."""


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One consumed input message, as the worker's agent sees it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    value: bytes
