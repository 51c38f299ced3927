"""Benchmark: the cost of tamper evidence (leaf hashing in the sink) and the speed of verifying.

Every figure is a ratio against a baseline measured in the same run (the machine is shared):

* sink: ``Sink.run`` over the same published events with the Merkle log off (``sink_merkle=0``)
  and on (leaf hashes, base64 values, signed checkpoints), alternating off/on ``--rounds`` times
  into fresh chDB databases (ratio of the medians), and the hashing step alone (``SinkLog.stamp``
  on the same values) as a share of the sink's time per row;
* ``ledger verify`` over a signed log of ``--leaves`` rows written as the sink writes them
  (``benchmarks.trust_log``, in ``--partitions`` logs): ``verify_log`` with ``--hashes-only`` and
  with the column re-derivation, against a bare SELECT of the same rows (the same bulk columnar
  read, no checks) and a bare SHA-256 of the same values in memory;
* the tree alone at ``--tree`` leaves in memory: the frontier extended in blocks (level by level)
  and leaf by leaf, and pymerkle's ``InmemoryTree`` when it is importable (not a dependency).

    .venv/bin/python -m benchmarks.bench_trust [--events 30000] [--rounds 3] [--leaves 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from base.settings import Settings
from benchmarks.bench_sink import make_events, publish, services
from benchmarks.trust_log import store_signed_log
from schemas.codec import encode_event
from streams.sink import Sink
from streams.store import open_store
from streams.store.base import Store, Table
from streams.trust.keys import Signer, Verifier, init_key
from streams.trust.logs import blocks_of, list_logs
from streams.trust.merkle import Frontier, leaf_hash, leaf_hashes
from streams.trust.sinklog import SinkLog
from streams.trust.verify import verify_log

TOPICS = ("crossings", "permits", "decisions", "deadletter", "checkpoints")


def sink_seconds(settings: Settings, merkle: int, n: int) -> float:
    """Seconds of one sink run over the ``n`` published events into a fresh database."""
    run = settings.with_overrides(
        clickhouse_database=f"bench_trust_{merkle}_{uuid.uuid4().hex[:8]}", sink_merkle=merkle
    )
    with open_store(run, "writer", "chdb") as store:
        store.migrate()
        sink = Sink(run, store)
        ends = sink.end_offsets()
        t0 = time.perf_counter()
        stats = sink.run(until=ends)
        elapsed = time.perf_counter() - t0
    assert stats.inserted["events"] == n, stats.summary()
    return elapsed


def stamp_seconds(settings: Settings, values: list[bytes]) -> float:
    """Seconds of the sink's hashing step alone (``SinkLog.stamp``) over ``values``."""
    run = settings.with_overrides(clickhouse_database=f"bench_stamp_{uuid.uuid4().hex[:8]}")
    with open_store(run, "writer", "chdb") as store:
        store.migrate()
        sinklog = SinkLog(run, store)
        tp = (settings.topic_crossings, 0)
        sinklog.resume(Table.EVENTS, tp, 0)
        rows: list[dict[str, Any]] = [{} for _ in values]
        t0 = time.perf_counter()
        for value, row in zip(values, rows, strict=True):
            sinklog.stamp(tp, value, row)
        elapsed = time.perf_counter() - t0
        sinklog.close()
    return elapsed


def bench_sink(settings: Settings, events: int, rounds: int) -> list[str]:
    values = [v for _, v in publish(settings, make_events(events))]
    off: list[float] = []
    on: list[float] = []
    for _ in range(rounds):
        off.append(events / sink_seconds(settings, 0, events))
        on.append(events / sink_seconds(settings, 1, events))
    stamp = stamp_seconds(settings, values)
    off_m, on_m = statistics.median(off), statistics.median(on)
    share = (stamp / events) * on_m
    return [
        f"sink rows/s over {events:,} events, Merkle log off: {off_m:,.0f}  "
        f"({', '.join(f'{r:,.0f}' for r in off)})",
        f"sink rows/s, Merkle log on:  {on_m:,.0f}  ({', '.join(f'{r:,.0f}' for r in on)})",
        f"  on/off ratio of the medians: {on_m / off_m:.3f} "
        f"(hashing costs {100 * (1 - on_m / off_m):.1f} % end to end)",
        f"  the hashing step alone (SinkLog.stamp): {events / stamp:,.0f} rows/s, "
        f"{100 * share:.1f} % of the sink's time per row with the log on",
    ]


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def verify_seconds(store: Store, settings: Settings, verifier: Verifier, columns: bool) -> float:
    def run() -> None:
        for log in list_logs(store, settings):
            report = verify_log(store, log, verifier, set(), lambda _: None, columns=columns)
            assert not report.findings and report.leaves == log.rows, report.findings

    return timed(run)


def bare_select_seconds(store: Store, settings: Settings) -> float:
    def run() -> None:
        for log in list_logs(store, settings):
            assert sum(len(b) for b in blocks_of(store, log, ())) == log.rows

    return timed(run)


def bench_verify(settings: Settings, signer: Signer, key: Path, n: int, parts: int) -> list[str]:
    values = [encode_event(e) for e in make_events(n)]
    run = settings.with_overrides(clickhouse_database=f"bench_verify_{uuid.uuid4().hex[:8]}")
    verifier = Verifier.load(key.with_name(key.name + ".pub"))
    with open_store(run, "writer", "chdb") as store:
        store.migrate()
        for p in range(parts):
            store_signed_log(store, signer, settings.topic_crossings, p, values[p::parts])
    with open_store(run, "investigator", "chdb") as store:
        select = bare_select_seconds(store, run)
        sha = timed(lambda: leaf_hashes(values))
        hashes_only = verify_seconds(store, run, verifier, columns=False)
        columns = verify_seconds(store, run, verifier, columns=True)
    rate = {k: n / s for k, s in [("select", select), ("sha", sha), ("hashes", hashes_only)]}
    return [
        f"verify over {n:,} leaves in {parts} logs (chDB): bare SELECT of the rows "
        f"{rate['select']:,.0f} rows/s, bare SHA-256 of the values {rate['sha']:,.0f} leaves/s",
        f"ledger verify --hashes-only: {rate['hashes']:,.0f} leaves/s = "
        f"{rate['hashes'] / rate['select']:.2f} x the bare SELECT, "
        f"{rate['hashes'] / rate['sha']:.2f} x the bare SHA-256",
        f"ledger verify (with column re-derivation): {n / columns:,.0f} leaves/s = "
        f"{select / columns:.3f} x the bare SELECT",
    ]


def bench_tree(n: int) -> list[str]:
    values = [b"%d-a-kafka-value-of-about-ninety-bytes-" % i * 2 for i in range(n)]
    leaves = leaf_hashes(values)
    blocks = Frontier()
    extend = timed(lambda: blocks.extend(leaves))
    single = Frontier()

    def one_by_one() -> None:
        for v in values:
            single.append(leaf_hash(v))

    append = timed(one_by_one)
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
    seconds = timed(lambda: [tree.append_entry(v) for v in values])
    return [line + f"; pymerkle {n / seconds:,.0f} leaves/s"]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures (ratios against the same run's baselines)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=2)
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
        lines += bench_verify(settings, signer, key, args.leaves, args.partitions)
    lines += bench_tree(args.tree)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
