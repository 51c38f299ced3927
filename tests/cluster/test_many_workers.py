"""Four workers on 12 partitions; workers join and leave mid-stream.

One worker starts alone; three more join while gates publish (four workers, 12 partitions: each
owns some); then two leave (one stopped with SIGTERM, one SIGKILLed) while gates still publish, and
the two left take their partitions over. The emissions on the decisions topic, folded as a
consumer that deduplicates on ``decision_id`` folds them, must equal the offline engine's
decisions over the same events (``ledger check --as-of T``): nothing lost, nothing extra.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import date, timedelta
from pathlib import Path

import pytest

from base.settings import Settings
from domain.decisions import fold_emissions
from domain.events import Event, GateHeartbeat
from infra.kafka_cluster import KafkaCluster
from producers.simulator import SimulationConfig, simulate
from streams.policy_file import load_policy
from tests.cluster.kafka_helpers import Trickle, cluster_settings
from tests.pipeline import (
    FAST_FAILOVER,
    another_worker,
    logs_tail,
    offline_decisions,
    read_emissions,
    running_worker,
    wait_until_settled,
    worker_health,
)

pytestmark = [pytest.mark.e2e, pytest.mark.cluster]

PARTITIONS = 12
WORKERS = 4
CONFIG = SimulationConfig(
    start=date(2025, 12, 1),
    days=2,
    travellers=400,
    seed=47,
    violation_share=0.2,
    heartbeat_minutes=60,
)
Worker = tuple[subprocess.Popen[bytes], Path]


@pytest.fixture
def settings(kafka_cluster: KafkaCluster, tmp_path: Path) -> Settings:
    return cluster_settings(kafka_cluster.settings, tmp_path, PARTITIONS)


def owned(settings: Settings) -> list[int]:
    health = worker_health(settings)
    return [] if health is None else [p["partition"] for p in health["partitions"]]


def wait_for(
    condition: Callable[[], bool], what: str, workers: Sequence[Worker], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for proc, log in workers:
            if proc.poll() is not None:
                raise AssertionError(f"{log} exited ({proc.returncode})\n{logs_tail(workers)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s\n{logs_tail(workers)}")
        time.sleep(0.5)


def partition_map(members: Sequence[Settings]) -> dict[int, list[int]]:
    return {m.worker_web_port: sorted(owned(m)) for m in members}


def covers_all_partitions(members: Sequence[Settings]) -> bool:
    """Every member owns some partitions and together they own each partition once."""
    owned_lists = [owned(m) for m in members]
    flat = sorted(p for parts in owned_lists for p in parts)
    return all(owned_lists) and flat == list(range(PARTITIONS))


def start_workers(stack: ExitStack, members: Sequence[Settings], tmp_path: Path) -> list[Worker]:
    """Start a worker per member; the stack stops them (SIGTERM, then SIGKILL) on exit."""
    started = []
    for member in members:
        log = tmp_path / f"worker-{member.worker_web_port}.log"
        started.append((stack.enter_context(running_worker(member, log, FAST_FAILOVER)), log))
    return started


def stop_like_a_supervisor(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds, as systemd's TimeoutStopSec does.

    Faust's clean shutdown can hang when it lands in a rebalance (seen here: the consumer is
    closed while the group asks it to rejoin); the group's outcome must not depend on it.
    """
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        print(f"worker {proc.pid} still stopping after {grace}s: SIGKILL")
        proc.kill()
        proc.wait(timeout=30)


def test_workers_joining_and_leaving_mid_stream_lose_and_duplicate_no_decision(
    settings: Settings, tmp_path: Path
) -> None:
    events = simulate(CONFIG).events
    as_of = max(e.occurred_at for e in events) + timedelta(hours=12)
    final = GateHeartbeat(event_id="final-heartbeat", occurred_at=as_of, port="HK-LO-WU")
    published: list[Event] = [*events, final]
    quarter = len(published) // 4
    members = [settings, *(another_worker(settings) for _ in range(WORKERS - 1))]
    with ExitStack() as stack:
        workers = start_workers(stack, members[:1], tmp_path)
        wait_for(lambda: len(owned(members[0])) == PARTITIONS, "12 partitions on A", workers, 120)
        first = Trickle(settings, published[:quarter], chunks=4, pause=0.3)
        first.start()
        # Three workers join while the first quarter is arriving.
        workers += start_workers(stack, members[1:], tmp_path)
        wait_for(lambda: covers_all_partitions(members), "four-way assignment", workers, 180)
        print(f"four workers, port: partitions = {partition_map(members)}")
        first.join(timeout=120)
        second = Trickle(settings, published[quarter : 3 * quarter], chunks=10, pause=0.3)
        second.start()
        # C is stopped (SIGTERM), D is SIGKILLed, while the middle half is arriving.
        workers[3][0].kill()
        stop_like_a_supervisor(workers[2][0])
        workers[3][0].wait(timeout=30)
        survivors, remaining = members[:2], workers[:2]
        wait_for(lambda: covers_all_partitions(survivors), "two-way assignment", remaining, 180)
        print(f"two workers, port: partitions = {partition_map(survivors)}")
        second.join(timeout=180)
        last = Trickle(settings, published[3 * quarter :], chunks=4, pause=0.3)
        last.start()
        last.join(timeout=120)
        wait_until_settled(settings, remaining, timeout=240)
        emissions = read_emissions(settings)
        processed = [int((worker_health(m) or {}).get("processed", -1)) for m in survivors]
        assert min(processed) > 0, (processed, logs_tail(workers))

    _, expected = offline_decisions(load_policy(), published)
    actual = fold_emissions(emissions)
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = sorted(i for i in set(expected) & set(actual) if expected[i] != actual[i])
    described = [(i[:12], expected[i].traveller_id, expected[i].code.value) for i in missing]
    print(f"{len(missing)} of {len(expected)} decisions missing, {len(extra)} extra")
    assert (described, extra, changed) == ([], [], []), logs_tail(workers)
    assert len(expected) > 50
    print(f"{len(emissions)} emissions for {len(expected)} decisions")
