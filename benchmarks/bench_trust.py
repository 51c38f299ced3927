"""Benchmark: the cost of tamper evidence (leaf hashing in the sink) and the speed of verifying.

In one run, on the same published events (``bench_sink``'s generator and publisher):

* sink rows/s with the Merkle log off (``sink_merkle=0``) and on (leaf hashes, base64 values,
  signed checkpoints), alternating off/on ``--rounds`` times into fresh chDB databases; the
  figure is the ratio on/off of the medians;
* ``ledger verify``'s walk over the stored log (``verify_log``: leaf hashes, column checks
  against the decoded value, checkpoint roots and signatures) in leaves/s, the same without the
  column checks (``--hashes-only``), and the Merkle part alone (hash every value, fold the
  frontier) on the same values;
* the tree alone at ``--leaves`` (default 1,000,000) in memory: our frontier against pymerkle's
  ``InmemoryTree`` when pymerkle is importable (it is not a dependency: install it to compare).

    .venv/bin/python -m benchmarks.bench_trust [--events 50000] [--rounds 2] [--leaves 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from base.settings import Settings
from benchmarks.bench_sink import make_events, publish, services
from streams.sink import Sink
from streams.store import open_store
from streams.trust.keys import Verifier, init_key
from streams.trust.logs import list_logs
from streams.trust.merkle import Frontier, leaf_hash
from streams.trust.verify import verify_log


def sink_rate(settings: Settings, merkle: int, n: int) -> tuple[float, str]:
    """Rows/s of one sink run into a fresh database; returns the database name too."""
    db = f"bench_trust_{merkle}_{uuid.uuid4().hex[:8]}"
    run = settings.with_overrides(clickhouse_database=db, sink_merkle=merkle)
    with open_store(run, "writer", "chdb") as store:
        store.migrate()
        sink = Sink(run, store)
        ends = sink.end_offsets()
        t0 = time.perf_counter()
        stats = sink.run(until=ends)
        elapsed = time.perf_counter() - t0
    assert stats.inserted["events"] == n, stats.summary()
    return n / elapsed, db


def verify_rate(settings: Settings, db: str, key: Path, columns: bool) -> tuple[float, int]:
    """Leaves/s of verify_log over every log of ``db``, and the number of leaves."""
    verifier = Verifier.load(key.with_name(key.name + ".pub"))
    with open_store(settings.with_overrides(clickhouse_database=db), "investigator", "chdb") as s:
        t0 = time.perf_counter()
        leaves = 0
        for log in list_logs(s, settings):
            report = verify_log(s, log, verifier, set(), lambda _: None, columns=columns)
            assert not report.findings, [f.line() for f in report.findings]
            leaves += report.leaves
        return leaves / (time.perf_counter() - t0), leaves


def merkle_rate(values: list[bytes]) -> float:
    t0 = time.perf_counter()
    frontier = Frontier()
    for v in values:
        frontier.append(leaf_hash(v))
    frontier.root()
    return len(values) / (time.perf_counter() - t0)


def tree_rates(n: int) -> tuple[float, float | None]:
    values = [b"%d-a-kafka-value-of-about-ninety-bytes-" % i * 2 for i in range(n)]
    own = merkle_rate(values)
    try:
        from pymerkle import InmemoryTree  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return own, None
    t0 = time.perf_counter()
    tree = InmemoryTree(algorithm="sha256")
    for v in values:
        tree.append_entry(v)
    tree.get_state()
    return own, n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures (ratios against the same run's baselines)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--leaves", type=int, default=1_000_000)
    parser.add_argument("--use-env", action="store_true", help="use the LEDGER_* services")
    args = parser.parse_args(argv)
    with services(args.use_env) as base, tempfile.TemporaryDirectory() as tmp:
        from infra.kafka_broker import ensure_topics

        suffix = uuid.uuid4().hex[:8]
        key = Path(tmp) / "key.pem"
        init_key(key)
        settings = base.with_overrides(
            store="chdb",
            signing_key=key,
            **{
                f"topic_{t}": f"bench.{t}.{suffix}"
                for t in ("crossings", "permits", "decisions", "deadletter", "checkpoints")
            },
        )
        ensure_topics(
            settings,
            [
                getattr(settings, f"topic_{t}")
                for t in ("crossings", "permits", "decisions", "deadletter", "checkpoints")
            ],
        )
        values = [v for _, v in publish(settings, make_events(args.events))]
        off: list[float] = []
        on: list[float] = []
        for _ in range(args.rounds):
            off.append(sink_rate(settings, 0, args.events)[0])
            rate, db = sink_rate(settings, 1, args.events)
            on.append(rate)
        verified, leaves = verify_rate(settings, db, key, columns=True)
        hashes_only, _ = verify_rate(settings, db, key, columns=False)
        merkle_only = merkle_rate(values)
    own, pymerkle = tree_rates(args.leaves)
    off_m, on_m = statistics.median(off), statistics.median(on)
    print(f"sink rows/s, Merkle log off: {off_m:,.0f}  ({', '.join(f'{r:,.0f}' for r in off)})")
    print(f"sink rows/s, Merkle log on:  {on_m:,.0f}  ({', '.join(f'{r:,.0f}' for r in on)})")
    print(f"  on/off ratio: {on_m / off_m:.3f} (hashing costs {100 * (1 - on_m / off_m):.1f} %)")
    print(f"ledger verify walk: {verified:,.0f} leaves/s over {leaves} leaves (with column checks)")
    print(f"ledger verify --hashes-only walk: {hashes_only:,.0f} leaves/s (store reads included)")
    print(f"  Merkle part alone (hash + frontier): {merkle_only:,.0f} leaves/s")
    print(f"tree of {args.leaves:,} leaves in memory: own frontier {own:,.0f} leaves/s", end="")
    print(f", pymerkle {pymerkle:,.0f} leaves/s" if pymerkle else ", pymerkle not installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
