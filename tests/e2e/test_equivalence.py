"""The live worker decides what the offline engine decides (the issue's acceptance statement).

A simulated stream (overstays, suspected overstays, retractions, duplicates, out-of-order
delivery) is published as gates and authorities publish it, followed by one GateHeartbeat at
instant T on every partition. The worker's emissions, read back from the decisions topic and
folded as a consumer that dedups on ``decision_id`` folds them, must equal the fold of the
offline :class:`~domain.engine.Engine` run over the same events in publication order and
then advanced to T (``ledger check --as-of T``). Duplicated emissions are allowed (outputs are
at-least-once); a different fold is not. The same must hold when the worker is SIGKILLed
mid-stream and restarted on its own RocksDB or on an empty one (state rebuilt from the changelog
topics alone), and when a second worker joins the group mid-stream and the first one leaves.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
from kafka.admin import AlterConfigOp, ConfigResource, ConfigResourceType, KafkaAdminClient

from base.credentials import kafka_client_security
from base.settings import Settings
from domain.decisions import Code, Decision, Emission, Status, fold_emissions
from domain.engine import open_stays
from domain.events import Event, GateHeartbeat, format_instant
from domain.policy import Policy
from ledger.worker_process import settings_env
from producers.simulator import SimulationConfig, simulate
from schemas.mapping import stay_view_to_json_dict
from streams.ops import LagUnavailableError, consumer_lag
from streams.policy_file import load_policy
from tests.pipeline import (
    FAST_FAILOVER,
    another_worker,
    http_json,
    isolated_settings,
    logs_tail,
    offline_decisions,
    publish_stream,
    read_emissions,
    running_worker,
    wait_until_settled,
    worker_health,
)

pytestmark = pytest.mark.e2e

# Two simulated days: ~1,600 traveller events and, with a heartbeat per port every 30 minutes,
# ~4,000 heartbeats (x4 partitions on the topic). Small enough for a 2-core CI machine, large
# enough for every injected fault kind.
CONFIG = SimulationConfig(
    start=date(2025, 12, 1),
    days=2,
    travellers=500,
    seed=23,
    violation_share=0.2,
    heartbeat_minutes=30,
)
PARTITIONS = 4
STARTUP_TIMEOUT = 90.0
REBUILT = re.compile(r"deadline index rebuilt with (\d+) entries")

Worker = tuple[subprocess.Popen[bytes], Path]


@dataclass(frozen=True)
class Stream:
    """The simulated events, the final heartbeat at T and the offline engine's folded answer."""

    events: tuple[Event, ...]
    final: GateHeartbeat
    policy: Policy
    expected: dict[str, Decision]

    @property
    def published(self) -> list[Event]:
        """Everything that goes to Kafka, in order: the events, then the final heartbeat."""
        return [*self.events, self.final]

    @property
    def input_messages(self) -> int:
        """Messages on the input topics once everything is published."""
        return input_messages(self.published)


def input_messages(events: Sequence[Event]) -> int:
    """Messages ``events`` make on the input topics (heartbeats go to every partition)."""
    beats = sum(isinstance(e, GateHeartbeat) for e in events)
    return len(events) - beats + beats * PARTITIONS


@pytest.fixture(scope="module")
def stream() -> Stream:
    return simulated_stream()


def simulated_stream() -> Stream:
    """The simulated events, the final heartbeat at T and the offline engine's answer."""
    events = simulate(CONFIG).events
    # T: half a day after the last event, so missing exits have become suspected overstays.
    as_of = max(e.occurred_at for e in events) + timedelta(hours=12)
    final = GateHeartbeat(event_id="final-heartbeat", occurred_at=as_of, port="HK-LO-WU")
    policy = load_policy()
    _, expected = offline_decisions(policy, events, as_of)
    return Stream(events, final, policy, expected)


@pytest.fixture
def settings(kafka_settings: Settings, make_topic: Callable[..., str], tmp_path: Path) -> Settings:
    return isolated_settings(
        kafka_settings.with_overrides(partitions=PARTITIONS), make_topic, tmp_path
    )


def _describe(decisions: dict[str, Decision], ids: Sequence[str]) -> str:
    return ", ".join(f"{i[:12]}:{decisions[i].traveller_id}:{decisions[i].code}" for i in ids)


def assert_equivalent(
    emissions: list[Emission], stream: Stream, workers: Sequence[Worker]
) -> dict[str, Decision]:
    """The worker's folded emissions equal the offline engine's; returns the fold."""
    actual = fold_emissions(emissions)
    expected = stream.expected
    if actual != expected:
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        changed = sorted(i for i in set(actual) & set(expected) if actual[i] != expected[i])
        raise AssertionError(
            f"worker fold ({len(actual)} decisions from {len(emissions)} emissions) differs "
            f"from the offline engine's ({len(expected)}):\n"
            f"  missing {len(missing)}: {_describe(expected, missing[:10])}\n"
            f"  extra {len(extra)}: {_describe(actual, extra[:10])}\n"
            f"  changed {len(changed)}: "
            + "; ".join(f"{actual[i]} != {expected[i]}" for i in changed[:3])
            + "\n"
            + logs_tail(workers)
        )
    return actual


def assert_watermarks_at(
    owners: Sequence[Settings], instant: datetime, workers: Sequence[Worker]
) -> None:
    """Every partition's watermark, as the worker owning it reports it, is ``instant``."""
    seen: dict[int, str | None] = {}
    for owner in owners:
        health = worker_health(owner)
        assert health is not None, f"no /health/ on {owner.worker_web_port}\n{logs_tail(workers)}"
        seen.update({p["partition"]: p["watermark"] for p in health["partitions"]})
    assert seen == dict.fromkeys(range(PARTITIONS), format_instant(instant)), (
        f"{seen}\n{logs_tail(workers)}"
    )


def wait_for(
    condition: Callable[[], bool], what: str, workers: Sequence[Worker], timeout: float
) -> float:
    """Poll ``condition`` until true; returns seconds waited. Fails with the log tails."""
    started = time.monotonic()
    while not condition():
        for proc, log in workers:
            if proc.poll() is not None:
                raise AssertionError(
                    f"{log} exited ({proc.returncode}) while waiting for {what}\n"
                    + logs_tail(workers)
                )
        if time.monotonic() - started > timeout:
            raise AssertionError(f"no {what} within {timeout}s\n{logs_tail(workers)}")
        time.sleep(0.1)
    return time.monotonic() - started


def has_committed(settings: Settings, at_least: int) -> bool:
    return committed(settings) >= at_least


def committed(settings: Settings) -> int:
    """Input messages the worker group has committed (0 while unknown)."""
    topics = (settings.topic_crossings, settings.topic_permits)
    try:
        lags = consumer_lag(settings, settings.app_id, topics)
    except LagUnavailableError:
        return 0
    return sum(p.committed or 0 for p in lags)


def processed(settings: Settings) -> int:
    health = worker_health(settings)
    return -1 if health is None else int(health["processed"])


def owned_partitions(settings: Settings) -> list[int]:
    health = worker_health(settings)
    return [] if health is None else [p["partition"] for p in health["partitions"]]


def cleanup_policies(settings: Settings, topics: Sequence[str]) -> dict[str, str]:
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="tests-cfg",
        **kafka_client_security(settings, "operator"),
    )
    try:
        described = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in topics], config_filter="all"
        )
    finally:
        admin.close()
    by_topic = described["topic"]
    return {t: by_topic[t]["cleanup.policy"]["value"] for t in topics}


def test_a_single_worker_decides_exactly_what_the_offline_engine_decides(
    settings: Settings, stream: Stream, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with running_worker(settings, log) as proc:
        workers = [(proc, log)]
        publish_stream(settings, stream.published)
        wait_until_settled(settings, workers)
        assert_watermarks_at([settings], stream.final.occurred_at, workers)
        health = worker_health(settings)
        assert health is not None
        assert health["processed"] == stream.input_messages, health
        emissions = read_emissions(settings)
        assert_equivalent(emissions, stream, workers)
        check_stay_cli(settings, stream)

    kinds = Counter((em.status, em.decision.code) for em in emissions)
    assert kinds[Status.ISSUED, Code.OVERSTAY] > 0, kinds
    assert kinds[Status.ISSUED, Code.SUSPECTED_OVERSTAY] > 0, kinds
    assert kinds[Status.RETRACTED, Code.SUSPECTED_OVERSTAY] > 0, kinds
    assert sum(n for (status, _), n in kinds.items() if status is Status.RETRACTED) > 0

    changelogs = [f"{settings.app_id}-{t}-changelog" for t in ("travellers", "clocks")]
    assert cleanup_policies(settings, changelogs) == dict.fromkeys(changelogs, "compact")


def test_a_worker_killed_mid_stream_and_restarted_converges_to_the_offline_decisions(
    settings: Settings, stream: Stream, tmp_path: Path
) -> None:
    events = stream.published
    cut1, held, cut2 = (len(events) * share // 100 for share in (45, 55, 80))
    # 1 takes its last events as one batch (up to 2,000 messages, 3 s to fill).
    big_batches = settings.with_overrides(worker_batch_size=2000, worker_batch_seconds=3.0)
    ahead = settings.with_overrides(worker_inflight_batches=4)
    phases = [
        # (worker, events trickled in while it runs, commits after which it is SIGKILLed,
        # events published next while the changelogs refuse writes: it dies on their writes)
        (big_batches, events[:cut1], input_messages(events[: len(events) // 5]), events[cut1:held]),
        # 2 steps batches ahead of their durability (LEDGER_WORKER_INFLIGHT_BATCHES): killed
        # with batches in flight, none of their input may count as processed.
        (ahead, events[held:cut2], input_messages(events[: len(events) * 65 // 100]), []),
    ]
    logs = [tmp_path / f"worker-{n}.log" for n in (1, 2, 3)]
    killed_at = []
    # 1, then 2 on 1's RocksDB directory: each SIGKILLed while its input is still arriving,
    # 1 once a batch's decisions were acknowledged and its state writes refused.
    for log, (worker, chunk, kill_after, refused) in zip(logs, phases, strict=False):
        with running_worker(worker, log, FAST_FAILOVER) as proc:
            workers = [(proc, log)]
            wait_for(
                lambda: bool(owned_partitions(settings)), "partitions", workers, STARTUP_TIMEOUT
            )
            with trickle(settings, chunk):
                wait_for(partial(has_committed, settings, kill_after), "commits", workers, 120)
                if not refused:
                    proc.kill()
            if refused:
                # Stopped while they arrive, the worker takes them in as one batch.
                proc.send_signal(signal.SIGSTOP)
                with changelogs_refusing_writes(settings):
                    publish_stream(settings, refused)
                    proc.send_signal(signal.SIGCONT)
                    kill_once_state_writes_failed(proc, log)
            proc.wait()
        killed_at.append(committed(settings))
        print(f"{log.name}: SIGKILLed with {killed_at[-1]} input messages committed")
    # Each restart resumed mid-stream, and left work to the next worker.
    assert 0 < killed_at[0] < killed_at[1] < stream.input_messages, killed_at
    # 3: a new web port, hence an empty RocksDB directory: state comes from the changelogs.
    fresh = another_worker(settings)
    with running_worker(fresh, logs[2], FAST_FAILOVER) as proc:
        workers = [(proc, logs[2])]
        publish_stream(settings, events[cut2:])
        wait_until_settled(fresh, workers)
        assert_watermarks_at([fresh], stream.final.occurred_at, workers)
        emissions = read_emissions(settings)
        assert_equivalent(emissions, stream, workers)
    # Its RocksDB directory was empty: the deadlines it fired came from the changelog topics.
    rebuilt = [int(n) for n in REBUILT.findall(logs[2].read_text())]
    assert sum(rebuilt) > 0, f"no deadline index rebuilt from the changelogs\n{logs_tail(workers)}"
    print(f"{len(emissions)} emissions for {len(stream.expected)} decisions")


@contextmanager
def changelogs_refusing_writes(settings: Settings) -> Iterator[None]:
    """The tables' changelogs refuse every write until exit (``max.message.bytes`` 1: a
    non-retriable MESSAGE_TOO_LARGE), so the worker's next batch gets its decisions
    acknowledged and then fails on its state writes: the window in which a SIGKILL once left
    RocksDB holding states its changelog never got. Kafka caps ``min.insync.replicas`` at the
    replication factor, so a single broker cannot hold the writes refused instead."""
    changelogs = [f"{settings.app_id}-{t}-changelog" for t in ("travellers", "clocks")]
    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="tests-cfg",
        **kafka_client_security(settings, "operator"),
    )

    def max_message_bytes(change: object) -> None:
        configs = {"max.message.bytes": change}
        done = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t, configs=configs) for t in changelogs]
        )
        assert done == {"topic": dict.fromkeys(changelogs, "OK")}, done

    try:
        max_message_bytes("1")
        yield
    finally:
        max_message_bytes((AlterConfigOp.DELETE, None))
        admin.close()


def kill_once_state_writes_failed(proc: subprocess.Popen[bytes], log: Path) -> None:
    """SIGKILL the worker once its batch failed on the refused state writes (it logs why)."""
    deadline = time.monotonic() + 60
    while "MessageSizeTooLarge" not in log.read_text():
        assert proc.poll() is None, f"exited ({proc.returncode}) first\n{logs_tail([(proc, log)])}"
        assert time.monotonic() < deadline, f"no refused write\n{logs_tail([(proc, log)])}"
        time.sleep(0.1)
    proc.kill()


@contextmanager
def trickle(
    settings: Settings,
    events: Sequence[Event],
    chunks: int = 10,
    pause: float = 0.3,
    join_timeout: float = 120.0,
) -> Iterator[None]:
    """Publish ``events`` in a background thread, a chunk every ``pause`` s (a live stream)."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            size = max(1, -(-len(events) // chunks))
            for i in range(0, len(events), size):
                publish_stream(settings, events[i : i + size], client_id="tests-trickle")
                time.sleep(pause)
        except BaseException as e:  # reported by the test thread
            failures.append(e)

    thread = threading.Thread(target=run, name="trickle", daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=join_timeout)
    assert not thread.is_alive(), "the trickle publisher hung"
    if failures:
        raise failures[0]


def test_two_workers_with_rebalances_mid_stream_decide_what_the_offline_engine_decides(
    settings: Settings, stream: Stream, tmp_path: Path
) -> None:
    events = stream.published
    third = len(events) // 3
    first, second, last = events[:third], events[third : 2 * third], events[2 * third :]
    # b steps batches ahead of their durability: its partitions are revoked with batches in
    # flight, which must become durable (or be re-read by a) before a takes them back.
    a_settings = settings
    b_settings = another_worker(settings).with_overrides(worker_inflight_batches=4)
    a_log, b_log = tmp_path / "worker-a.log", tmp_path / "worker-b.log"
    with running_worker(a_settings, a_log) as a:
        publish_stream(a_settings, first)
        wait_until_settled(a_settings, [(a, a_log)])
        with running_worker(b_settings, b_log) as b:
            both = [(a, a_log), (b, b_log)]
            wait_for(
                lambda: bool(owned_partitions(a_settings)) and bool(owned_partitions(b_settings)),
                "partitions on both workers",
                both,
                STARTUP_TIMEOUT,
            )
            # Only now: published earlier, A could finish the second third before B joins.
            publish_stream(a_settings, second)
            wait_until_settled(a_settings, both)
            shared = {
                w.worker_web_port: (owned_partitions(w), processed(w))
                for w in (a_settings, b_settings)
            }
            print(f"after the first rebalance, port: (partitions, processed) = {shared}")
            assert processed(b_settings) > 0, f"B processed nothing\n{logs_tail(both)}"
            check_stay_routing(a_settings, b_settings, stream.policy, [*first, *second], both)
            # A leaves: B takes every partition over (second rebalance) and finishes the stream.
            a.terminate()
            a.wait(timeout=30)
            publish_stream(b_settings, last)
            wait_for(
                lambda: len(owned_partitions(b_settings)) == PARTITIONS,
                "every partition on B",
                [(b, b_log)],
                STARTUP_TIMEOUT,
            )
            wait_until_settled(b_settings, [(b, b_log)])
            assert_watermarks_at([b_settings], stream.final.occurred_at, [(b, b_log)])
            emissions = read_emissions(b_settings)
            assert_equivalent(emissions, stream, both)


def check_stay_routing(
    a_settings: Settings,
    b_settings: Settings,
    policy: Policy,
    events: Sequence[Event],
    workers: Sequence[Worker],
) -> None:
    """/stay on A for B's travellers is B's answer, and the offline engine's open stays."""
    engine, _ = offline_decisions(policy, events)
    at = max(e.occurred_at for e in events if not isinstance(e, GateHeartbeat))
    query = urllib.parse.urlencode({"at": format_instant(at)})
    b_port = b_settings.worker_web_port
    checked = {a_settings.worker_web_port: 0, b_port: 0}
    for tid in engine.travellers():
        state = engine.state(tid)
        assert state is not None
        expected = [stay_view_to_json_dict(v) for v in open_stays(state, at, policy)]
        if not expected:
            continue
        path = f"/stay/{urllib.parse.quote(tid)}/?{query}"
        via_a = http_json(a_settings, path, timeout=15)
        assert via_a is not None, f"/stay/{tid}/ on A did not answer\n{logs_tail(workers)}"
        served_by = via_a["served_by"]
        if checked[served_by] >= 3:
            continue
        assert via_a["open_stays"] == expected, (tid, via_a, expected)
        assert via_a["known"] is True
        if served_by == b_port:
            assert http_json(b_settings, path, timeout=15) == via_a
        checked[served_by] += 1
        if min(checked.values()) >= 3:
            break
    assert min(checked.values()) >= 3, f"travellers with open stays served by port: {checked}"


def check_stay_cli(settings: Settings, stream: Stream) -> None:
    """``ledger stay --live`` prints the worker's remaining-stay answer, the offline engine's."""
    engine, _ = offline_decisions(stream.policy, stream.events)
    at = max(e.occurred_at for e in stream.events if not isinstance(e, GateHeartbeat))
    for tid in engine.travellers():
        state = engine.state(tid)
        assert state is not None
        expected = [stay_view_to_json_dict(v) for v in open_stays(state, at, stream.policy)]
        if expected:
            break
    else:
        raise AssertionError("the simulated stream has no open stay to ask about")
    env = dict(os.environ)
    env.update(settings_env(settings))
    done = subprocess.run(
        [sys.executable, "-m", "ledger", "stay", "--live", tid, "--at", format_instant(at)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["traveller_id"] == tid
    assert answer["open_stays"] == expected
