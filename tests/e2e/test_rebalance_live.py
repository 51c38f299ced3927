"""Workers join and leave while the gates publish steadily: no input message skipped (issue 12).

Worker A starts alone; the whole simulated stream is then trickled in by ONE long-lived publisher
(a chunk every 0.3 s) and, while it flows, B joins, then C joins, then A leaves (SIGTERM). The
trickle is released in stages: each membership change starts with a further quarter of the stream
(at least 22 s of publishing) still to come, so every rebalance window sees events arriving however
slowly the loaded machine starts a worker. Each join and the leave is a
rebalance with partitions changing owner mid-stream. At the end the group has committed every
input message (lag 0), every partition's watermark is the final heartbeat's, the decisions folded
from the decisions topic equal the offline engine's (``ledger check --as-of T``), and the offsets
the three workers report as processed (``processed_offsets`` on ``/health/``, A's in its exit log)
together cover every offset of every input partition: an input message skipped by a rebalance
shows there even when, like a heartbeat, it changes no decision.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from functools import partial
from pathlib import Path

import pytest

from base.settings import Settings
from domain.events import Event
from producers.gates import publish_events
from producers.roles import GatesAndAuthorities
from streams.worker.coverage import OffsetCoverage
from tests.e2e.test_equivalence import (
    PARTITIONS,
    Stream,
    assert_equivalent,
    assert_watermarks_at,
    has_committed,
    simulated_stream,
    wait_for,
)
from tests.pipeline import (
    FAST_FAILOVER,
    another_worker,
    isolated_settings,
    logs_tail,
    read_emissions,
    record_ranges,
    running_worker,
    wait_until_settled,
    worker_health,
)

pytestmark = pytest.mark.e2e

READY = "Recovery]: Worker ready"
EXIT_REPORT = re.compile(r"processed offsets at exit: (\{.*\})")
Worker = tuple[subprocess.Popen[bytes], Path]
CHUNKS = 300
PAUSE = 0.3  # seconds between chunks
JOIN_TIMEOUT = 600.0  # a worker start + rebalance + recovery on a machine at load average ~40


class StagedTrickle:
    """Publishes chunks of a stream through one publisher, never past the share released so far."""

    def __init__(self, settings: Settings, events: Sequence[Event]) -> None:
        self.events = events
        self.publisher = GatesAndAuthorities(settings, client_id="tests-live-trickle")
        self.size = max(1, -(-len(events) // CHUNKS))
        self.released = threading.Condition()
        self.share = 0.0
        self.handed_over = 0  # events given to the publisher so far
        self.failures: list[BaseException] = []

    def release(self, share: float) -> None:
        """Let the trickle publish up to ``share`` (0..1) of the stream."""
        with self.released:
            self.share = share
            self.released.notify_all()

    def run(self) -> None:
        try:
            for start in range(0, len(self.events), self.size):
                with self.released:
                    self.released.wait_for(lambda at=start: at < self.share * len(self.events))
                publish_events(self.events[start : start + self.size], self.publisher)
                self.handed_over = min(len(self.events), start + self.size)
                self.publisher.flush(timeout=60)  # steady: a chunk out before the next pause
                time.sleep(PAUSE)
            self.publisher.close(timeout=300)  # every event acknowledged, or the test fails
        except BaseException as e:  # reported by the test thread
            self.failures.append(e)


@contextmanager
def staged_trickle(settings: Settings, events: Sequence[Event]) -> Iterator[StagedTrickle]:
    """A :class:`StagedTrickle` running in a thread; on exit it is released whole and joined."""
    trickle = StagedTrickle(settings, events)
    thread = threading.Thread(target=trickle.run, name="trickle", daemon=True)
    thread.start()
    try:
        yield trickle
    finally:
        trickle.release(1.0)
        thread.join(timeout=JOIN_TIMEOUT)
    assert not thread.is_alive(), "the trickle publisher hung"
    if trickle.failures:
        raise trickle.failures[0]


@pytest.fixture(name="stream")
def the_stream() -> Stream:
    return simulated_stream()


@pytest.fixture(name="settings")
def isolated(kafka_settings: Settings, make_topic: Callable[..., str], tmp_path: Path) -> Settings:
    return isolated_settings(
        kafka_settings.with_overrides(partitions=PARTITIONS), make_topic, tmp_path
    )


def holes(reports: list[Mapping[str, list[list[int]]]], settings: Settings) -> dict[str, object]:
    """Offsets of the input topics that no report covers, per ``topic[partition]``."""
    union = OffsetCoverage()
    for report in reports:
        for key, ranges in report.items():
            topic, _, partition = key[:-1].rpartition("[")
            for start, end in ranges:
                for offset in range(start, end):
                    union.add(topic, int(partition), offset)
    covered = union.as_json()
    # Every record's offset (a transactional producer's markers are offsets without a record).
    records = record_ranges(settings, (settings.topic_crossings, settings.topic_permits))
    return {
        key: {"records": wanted, "covered": covered.get(key, [])}
        for key, wanted in records.items()
        if covered.get(key, []) != wanted
    }


def test_workers_joining_and_leaving_while_gates_publish_skip_no_input(
    settings: Settings, stream: Stream, tmp_path: Path
) -> None:
    members = [settings, another_worker(settings), another_worker(settings)]
    logs = [tmp_path / f"worker-{name}.log" for name in "abc"]
    with ExitStack() as stack:
        workers: list[Worker] = []

        def join(n: int) -> None:
            proc = stack.enter_context(running_worker(members[n], logs[n], FAST_FAILOVER))
            workers.append((proc, logs[n]))
            # In the group once its first assignment is recovered (with 4 partitions for 3
            # workers, Faust may leave one of them only standbys).
            wait_for(
                lambda: READY in logs[n].read_text(),
                f"worker {'abc'[n]} in the group",
                workers,
                JOIN_TIMEOUT,
            )

        join(0)
        with staged_trickle(settings, stream.published) as gates:
            gates.release(0.25)
            wait_for(partial(has_committed, settings, 1), "A's first commits", workers, 300)
            gates.release(0.5)  # B joins with a quarter of the stream still to come
            join(1)
            gates.release(0.75)  # and C
            join(2)
            a = workers[0][0]
            assert a.poll() is None, logs_tail(workers)
            gates.release(0.95)  # A leaves with a fifth of the stream still to come
            a.terminate()
            a.wait(timeout=120)
            at_leave = gates.handed_over
        assert at_leave < len(stream.published), "A left after the gates had published all"
        remaining = workers[1:]
        wait_until_settled(settings, remaining, timeout=JOIN_TIMEOUT)
        owners = members[1:]
        assert_watermarks_at(owners, stream.final.occurred_at, remaining)
        assert_equivalent(read_emissions(settings), stream, workers)
        reports = [worker_health(m) for m in owners]
        assert all(r is not None for r in reports), logs_tail(remaining)
    exits = EXIT_REPORT.findall(logs[0].read_text())
    assert exits, f"A logged no processed offsets at exit\n{logs_tail(workers)}"
    covered = [json.loads(exits[-1]), *(r["processed_offsets"] for r in reports if r)]
    assert holes(covered, settings) == {}, logs_tail(workers)
    busy = [name for name, report in zip("abc", covered, strict=True) if any(report.values())]
    print(f"workers that processed input: {busy}")
    # Messages re-read after a takeover that the stored states already held (skipped, not lost).
    print(f"replayed by B and C: {[r.get('replayed') for r in reports if r]}")
    assert len(busy) >= 2, "partitions changed owners"
