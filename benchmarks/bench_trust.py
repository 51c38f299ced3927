"""Benchmark: the cost of tamper evidence (leaf hashing in the sink) and the speed of verifying.

Every figure is a ratio against a baseline measured in the same run (the machine is shared), in
wall time and in CPU time of this process (chDB runs inside it, the Kafka broker does not): on a
loaded machine the CPU figures are the stable ones, the wall figures say what a user waits.

* sink: ``Sink.run`` over the same published events with the Merkle log off (``sink_merkle=0``)
  and on (leaf hashes, base64 values, signed checkpoints), alternating off/on ``--rounds`` times
  into fresh chDB databases (ratio of the medians), and the hashing step alone (``SinkLog.stamp``
  on the same values) as a share of the sink's time per row; and what the log adds per run,
  metered (checkpoints, resuming the frontiers, the INSERTs of the longer rows);
* ``ledger verify`` over a signed log of ``--leaves`` rows written as the sink writes them
  (``benchmarks.trust_log``, in ``--partitions`` logs): ``verify_log --hashes-only`` against a
  bare SELECT of the same rows (the same Arrow read and sort, no checks) and a bare SHA-256 of
  the same values in memory; the full ``ledger verify`` (the column re-derivation) on a log of
  ``--column-leaves`` rows against its own bare SELECT (the same read with the derived columns)
  and against the re-derivation alone (``record_row`` over the same values, in memory);
* the tree alone at ``--tree`` leaves in memory: the frontier extended in blocks (level by level)
  and leaf by leaf, and pymerkle's ``InmemoryTree`` when it is importable (not a dependency).

    .venv/bin/python -m benchmarks.bench_trust [--events 30000] [--rounds 5] [--leaves 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from base.settings import Settings
from benchmarks.bench_sink import make_events, publish, services
from benchmarks.trust_log import store_signed_log
from schemas.codec import encode_event
from schemas.mapping import Coordinates
from streams.sink import Sink
from streams.store import open_store
from streams.store.base import Store, Table, quote_identifier
from streams.store.records import record_row
from streams.trust.keys import Signer, Verifier, init_key
from streams.trust.logs import leaf_blocks_of, list_logs
from streams.trust.merkle import Frontier, leaf_hash, leaf_hashes
from streams.trust.sinklog import SinkLog
from streams.trust.verify import verify_log

TOPICS = ("crossings", "permits", "decisions", "deadletter", "checkpoints")


@dataclass(frozen=True, slots=True)
class Took:
    """Wall and CPU seconds of one measured step."""

    wall: float
    cpu: float

    def rates(self, n: int) -> str:
        return f"{n / self.wall:,.0f}/s wall, {n / self.cpu:,.0f}/s CPU"


def timed(fn: Callable[[], object]) -> Took:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return Took(time.perf_counter() - wall, time.process_time() - cpu)


# What the log adds to a sink run, metered by CPU seconds of the process inside each call: the
# checkpoints (sign, store, publish; the Kafka producer is created on the first), rebuilding the
# frontiers on start, and the INSERTs, metered with the log off and on. The hashing step is
# measured alone (``stamp_seconds``): a meter around each of its 20k calls would cost as much.
METERED = {
    "checkpoints": (SinkLog, "sign_due"),
    "producer close": (SinkLog, "close"),
    "resume": (SinkLog, "resume"),
    "insert": (Store, "insert"),
}


@contextmanager
def metered() -> Iterator[dict[str, float]]:
    """CPU seconds spent inside each of :data:`METERED` while the block runs (outermost calls)."""
    spent = dict.fromkeys(METERED, 0.0)
    originals = {name: getattr(cls, attr) for name, (cls, attr) in METERED.items()}

    def wrap(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            cpu = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent[name] += time.process_time() - cpu

        return timed_call

    try:
        for name, (cls, attr) in METERED.items():
            setattr(cls, attr, wrap(name, originals[name]))
        yield spent
    finally:
        for name, (cls, attr) in METERED.items():
            setattr(cls, attr, originals[name])


def sink_took(settings: Settings, merkle: int, n: int) -> tuple[Took, dict[str, float]]:
    """Wall and CPU time of one sink run over the ``n`` published events into a fresh database,
    and the CPU seconds inside each of :data:`METERED`."""
    run = settings.with_overrides(
        clickhouse_database=f"bench_trust_{merkle}_{uuid.uuid4().hex[:8]}", sink_merkle=merkle
    )
    with open_store(run, "writer", "chdb") as store:
        store.migrate()
        sink = Sink(run, store)
        ends = sink.end_offsets()
        with metered() as spent:
            took = timed(lambda: sink.run(until=ends))
        db = quote_identifier(run.clickhouse_database)
        stored = store.query(f"SELECT count() FROM {db}.events")
    assert int(stored.rows[0][0]) == n, stored.rows
    return took, spent


def stamp_seconds(settings: Settings, values: list[bytes]) -> float:
    """CPU seconds of the sink's hashing step alone (``SinkLog.stamp``) over ``values`` (CPU, as
    the sink rounds it is compared with: wall time under load would overstate its share)."""
    run = settings.with_overrides(clickhouse_database=f"bench_stamp_{uuid.uuid4().hex[:8]}")
    with open_store(run, "writer", "chdb") as store:
        store.migrate()
        sinklog = SinkLog(run, store)
        tp = (settings.topic_crossings, 0)
        sinklog.resume({tp: (Table.EVENTS, 0)})
        rows: list[dict[str, Any]] = [{} for _ in values]
        t0 = time.process_time()
        for value, row in zip(values, rows, strict=True):
            sinklog.stamp(tp, value, row)
        elapsed = time.process_time() - t0
        sinklog.close()
    return elapsed


def warm_up_inserts(settings: Settings, value: bytes) -> None:
    """One INSERT into a scratch database: chDB's first INSERT of a process loads its Arrow
    glue (0.7 CPU-s seen), which would otherwise be charged to the first round (log off)."""
    run = settings.with_overrides(clickhouse_database=f"bench_warm_{uuid.uuid4().hex[:8]}")
    now = datetime.now(UTC)
    with open_store(run, "writer", "chdb") as store:
        store.migrate()
        at = Coordinates(settings.topic_crossings, 0, 0)
        store.insert_events([record_row(Table.EVENTS, value, at, now, now)])


def bench_sink(settings: Settings, events: int, rounds: int) -> list[str]:
    values = [v for _, v in publish(settings, make_events(events))]
    warm_up_inserts(settings, values[0])
    off: list[Took] = []
    on: list[Took] = []
    meters: dict[int, list[dict[str, float]]] = {0: [], 1: []}
    for _ in range(rounds):
        for merkle, took in ((0, off), (1, on)):
            round_took, spent = sink_took(settings, merkle, events)
            took.append(round_took)
            meters[merkle].append(spent)
    stamp = stamp_seconds(settings, values)
    lines = [f"sink over {events:,} events, {rounds} alternating rounds off/on (chDB):"]
    for what in ("wall", "cpu"):
        off_s = statistics.median(getattr(t, what) for t in off)
        on_s = statistics.median(getattr(t, what) for t in on)
        lines += [
            f"  {what}: log off {events / off_s:,.0f} rows/s, on {events / on_s:,.0f} rows/s "
            f"(rounds off {', '.join(f'{getattr(t, what):.1f}' for t in off)} s; "
            f"on {', '.join(f'{getattr(t, what):.1f}' for t in on)} s): on/off throughput "
            f"{off_s / on_s:.3f}, the log costs {100 * (1 - off_s / on_s):.1f} % of throughput"
        ]
    on_cpu = statistics.median(t.cpu for t in on)
    lines.append(
        f"  the hashing step alone (SinkLog.stamp): {events / stamp:,.0f} rows per CPU second, "
        f"{100 * stamp / on_cpu:.1f} % of the sink's CPU time with the log on"
    )
    return lines + attribution(off, on, meters, stamp)


def attribution(
    off: list[Took], on: list[Took], meters: dict[int, list[dict[str, float]]], stamp: float
) -> list[str]:
    """Where the log's CPU goes: the hashing step and the metered parts (medians over the
    rounds) against the difference of the median CPU seconds of the runs with the log on and
    off."""

    def median(merkle: int, name: str) -> float:
        return statistics.median(m[name] for m in meters[merkle])

    extra = statistics.median(t.cpu for t in on) - statistics.median(t.cpu for t in off)
    parts = {"stamp (alone)": stamp}
    parts.update({name: median(1, name) for name in METERED if name != "insert"})
    parts["longer rows (insert on - off)"] = median(1, "insert") - median(0, "insert")
    listed = ", ".join(f"{name} {seconds:.3f}" for name, seconds in parts.items())
    return [
        f"  CPU seconds the log adds per run (medians): {extra:.3f} measured (on - off); "
        f"metered {sum(parts.values()):.3f} = {listed}; INSERTs off {median(0, 'insert'):.3f}, "
        f"on {median(1, 'insert'):.3f}"
    ]


def verify_took(store: Store, settings: Settings, verifier: Verifier, columns: bool) -> Took:
    def run() -> None:
        for log in list_logs(store, settings):
            report = verify_log(store, log, verifier, set(), lambda _: None, columns=columns)
            assert not report.findings and report.leaves == log.rows, report.findings

    return timed(run)


def bare_select_took(store: Store, settings: Settings, *, columns: bool) -> Took:
    """The read alone: ``leaf_blocks_of``, as ``ledger verify`` (``columns``) or
    ``--hashes-only`` reads the rows, nothing checked."""

    def run() -> None:
        for log in list_logs(store, settings):
            blocks = leaf_blocks_of(store, log, columns=columns)
            assert sum(len(b) for b in blocks) == log.rows

    return timed(run)


def signed_store(settings: Settings, signer: Signer, values: list[bytes], parts: int) -> Settings:
    """A fresh chDB database holding ``values`` as ``parts`` signed logs; its settings."""
    run = settings.with_overrides(clickhouse_database=f"bench_verify_{uuid.uuid4().hex[:8]}")
    with open_store(run, "writer", "chdb") as store:
        store.migrate()
        for p in range(parts):
            store_signed_log(store, signer, settings.topic_crossings, p, values[p::parts])
    return run


def bench_verify(
    settings: Settings, signer: Signer, key: Path, *, n: int, parts: int, column_n: int
) -> list[str]:
    values = [encode_event(e) for e in make_events(max(n, column_n))]
    verifier = Verifier.load(key.with_name(key.name + ".pub"))
    run = signed_store(settings, signer, values[:n], parts)
    with open_store(run, "investigator", "chdb") as store:
        store.query_arrow("SELECT 1")  # chDB imports its Arrow glue on first use
        select = bare_select_took(store, run, columns=False)
        sha = timed(lambda: leaf_hashes(values[:n]))
        hashes_only = verify_took(store, run, verifier, columns=False)
    lines = [
        f"verify over {n:,} leaves in {parts} logs (chDB): bare SELECT of the rows as "
        f"--hashes-only reads them (Arrow) {select.rates(n)}; bare SHA-256 of the values "
        f"{sha.rates(n)}",
        f"  ledger verify --hashes-only: {hashes_only.rates(n)} = "
        f"{select.wall / hashes_only.wall:.2f} x the bare SELECT in wall time, "
        f"{select.cpu / hashes_only.cpu:.2f} x in CPU time",
    ]
    if column_n:
        lines.append(bench_columns(settings, signer, verifier, values[:column_n]))
    return lines


def bench_columns(
    settings: Settings, signer: Signer, verifier: Verifier, values: list[bytes]
) -> str:
    """The full ``ledger verify`` against its bare SELECT and the re-derivation alone."""
    n = len(values)
    run = signed_store(settings, signer, values, 1)
    now = datetime.now(UTC)

    def derive() -> None:
        for offset, value in enumerate(values):
            at = Coordinates(settings.topic_crossings, 0, offset)
            record_row(Table.EVENTS, value, at, now, now)

    with open_store(run, "investigator", "chdb") as store:
        select = bare_select_took(store, run, columns=True)
        columns = verify_took(store, run, verifier, columns=True)
    alone = timed(derive)
    return (
        f"  ledger verify (column re-derivation) over {n:,} leaves: {columns.rates(n)} = "
        f"{select.wall / columns.wall:.3f} x its bare SELECT ({select.rates(n)}) in wall time, "
        f"{select.cpu / columns.cpu:.3f} x in CPU; {alone.cpu / columns.cpu:.2f} x in CPU the "
        f"re-derivation alone (record_row in memory, {alone.rates(n)})"
    )


def bench_tree(n: int) -> list[str]:
    values = [b"%d-a-kafka-value-of-about-ninety-bytes-" % i * 2 for i in range(n)]
    leaves = leaf_hashes(values)
    blocks = Frontier()
    extend = timed(lambda: blocks.extend(leaves)).wall
    single = Frontier()

    def one_by_one() -> None:
        for v in values:
            single.append(leaf_hash(v))

    append = timed(one_by_one).wall
    assert blocks.root() == single.root()
    line = (
        f"tree of {n:,} leaves in memory: hash + append leaf by leaf {n / append:,.0f} leaves/s; "
        f"nodes level by level (extend) {n / extend:,.0f} leaves/s"
    )
    try:
        from pymerkle import InmemoryTree  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return [line + "; pymerkle not installed"]
    tree = InmemoryTree(algorithm="sha256")
    seconds = timed(lambda: [tree.append_entry(v) for v in values]).wall
    return [line + f"; pymerkle {n / seconds:,.0f} leaves/s"]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures (ratios against the same run's baselines)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--column-leaves", type=int, default=20_000)
    parser.add_argument("--tree", type=int, default=1_000_000)
    parser.add_argument("--use-env", action="store_true", help="use the LEDGER_* services")
    parser.add_argument("--skip-sink", action="store_true", help="only verification and tree")
    args = parser.parse_args(argv)
    lines: list[str] = []
    with services(args.use_env) as base, tempfile.TemporaryDirectory() as tmp:
        from infra.kafka_broker import ensure_kafka_security, ensure_topics

        key = Path(tmp) / "key.pem"
        signer = init_key(key)
        suffix = uuid.uuid4().hex[:8]
        settings = base.with_overrides(
            store="chdb",
            signing_key=key,
            **{f"topic_{t}": f"bench.{t}.{suffix}" for t in TOPICS},
        )
        if not args.skip_sink:
            ensure_topics(settings, [getattr(settings, f"topic_{t}") for t in TOPICS])
            ensure_kafka_security(settings)  # every role's ACLs on these fresh topics
            lines += bench_sink(settings, args.events, args.rounds)
        lines += bench_verify(
            settings,
            signer,
            key,
            n=args.leaves,
            parts=args.partitions,
            column_n=args.column_leaves,
        )
    lines += bench_tree(args.tree)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
