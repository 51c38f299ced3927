"""Benchmark: the audit store at volume, maintained tables against the plain tables (chDB).

Two databases in one chDB store, loaded in the same run with the same rows through the real
insert path (``Store.insert``: ArrowStream, batches of ``sink_batch_size``), chunk by chunk in
alternation so machine noise hits both alike:

* ``maintained``: the project's DDL (append-only tables, the maintained tables their
  materialized views fill at insert time, the investigator views);
* ``plain``: the append-only tables alone (the maintained tables and views dropped), where the
  baseline recomputes every view from the record (``streams.store.recompute``) at query time.

Then each investigator-guide question and a set of view probes (one traveller, one port-day,
one day, the full suspected list) run once to warm and three times timed on each database. It
reports load rows/s of each database, disk bytes per table, per-query latency (median of the
three runs), the plain/maintained ratio, the maintained time over a bare scan of the events'
traveller ids timed right after it (``/scan``, :data:`SCAN`) and the rows the maintained query
plans to read (:func:`rows_read`), and writes everything to a JSON file.

    .venv/bin/python -m benchmarks.bench_audit [--events 1000000] [--out var/bench/audit.json]

The issue's report scale is ``--events 100000000`` (about 30 M emissions); a small default keeps
an ordinary run to a few minutes. ``--skip-baseline-over S`` stops timing a baseline query after
its warm-up run took more than S seconds (it is reported with that one run);
``--no-baseline-queries`` times none (at 100 M a recomputed view takes minutes; the plain tables
are still loaded, for the load ratio). ``--store DIR`` keeps the chDB directory: the first run
loads it and records the load's figures in ``DIR/loaded.json``; a later run finds that file and
times the queries on the stored data again without reloading (a 100 M load takes over an hour).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from base.settings import PROJECT_ROOT, Settings
from benchmarks.audit_data import Generator
from streams.guide import QUESTIONS
from streams.store import Store, Table, open_store
from streams.store.base import MAINTAINED_TABLES
from streams.store.recompute import on_plain_tables

# The same-run yardstick of a maintained query: one bare pass over the traveller ids of every
# event (the load of the machine at that moment weighs on both alike). ``/scan`` = query / this.
SCAN = "SELECT count() FROM events WHERE NOT ignore(traveller_id)"


def plain_store(store: Store) -> None:
    """Turn a migrated database into the append-only tables alone (no MVs, views, state)."""
    views = store.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'View'",
        {"db": store.database},
    )
    for (name,) in views.rows:
        store.query(f"DROP TABLE {name}")
    for name in MAINTAINED_TABLES:
        store.query(f"DROP TABLE {name}_mv")
        store.query(f"DROP TABLE {name}")


def load(stores: dict[str, Store], generator: Generator, batch: int) -> dict[str, float]:
    """Insert every chunk into each store in turn; seconds spent inserting, per store."""
    spent = dict.fromkeys(stores, 0.0)
    for n, (events, decisions) in enumerate(generator.chunks(max(batch * 20, 100_000))):
        order = list(stores.items()) if n % 2 == 0 else list(reversed(stores.items()))
        for name, store in order:
            t0 = time.perf_counter()
            for table, rows in ((Table.EVENTS, events), (Table.DECISIONS, decisions)):
                for i in range(0, len(rows), batch):
                    store.insert(table, rows[i : i + batch])
            spent[name] += time.perf_counter() - t0
        print(
            f"  loaded {generator.crossings:,} crossings, {generator.emissions:,} emissions",
            file=sys.stderr,
        )
    return spent


def timed(run: Callable[[], Any], runs: int, give_up: float | None) -> dict[str, Any]:
    """One warm-up run, then ``runs`` timed ones (unless the warm-up exceeded ``give_up`` s)."""
    t0 = time.perf_counter()
    rows = len(run().rows)
    warm = time.perf_counter() - t0
    if give_up is not None and warm > give_up:
        return {"seconds": warm, "runs": [warm], "rows": rows, "warm_only": True}
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return {"seconds": statistics.median(times), "runs": times, "rows": rows}


def probes(store: Store, traveller: str) -> dict[str, str]:
    """Questions beyond the guide's ten: one traveller, one port-day, one day, full lists."""
    busiest = store.query(
        "SELECT day, count() AS n FROM (SELECT toDate(observed_at) AS day FROM decisions) "
        "GROUP BY day ORDER BY n DESC, day LIMIT 1"
    ).rows[0][0]
    one = f"WHERE traveller_id = '{traveller}'"
    port_day = f"WHERE entry_port = 'PORT-07' AND toDate(entered_at) = toDate('{busiest}')"
    return {
        "timeline, one traveller": f"SELECT * FROM timeline {one} ORDER BY at, at_ms, kind",
        "stays, one traveller": f"SELECT * FROM stays {one}",
        "overstays, one traveller": f"SELECT * FROM overstays {one}",
        "suspected_overstayers, one traveller": f"SELECT * FROM suspected_overstayers {one}",
        "decisions_in_force, one traveller": f"SELECT * FROM decisions_in_force {one}",
        "decision_log, one traveller": f"SELECT * FROM decision_log {one}",
        "stays, one port-day": f"SELECT * FROM stays {port_day}",
        "overstays, one port-day": f"SELECT * FROM overstays {port_day}",
        "suspected_overstayers, one port-day": f"SELECT * FROM suspected_overstayers {port_day}",
        "suspected_overstayers, full list": "SELECT * FROM suspected_overstayers",
        # The same in ClickHouse alone (no result sent to Python): the share of the Python read.
        "suspected_overstayers, full list, FORMAT Null": (
            "SELECT * FROM suspected_overstayers FORMAT Null"
        ),
        "decisions_by_rule_port_day, one day": (
            f"SELECT * FROM decisions_by_rule_port_day WHERE day = toDate('{busiest}')"
        ),
        "crossings per port, one month": (
            "SELECT port, count() FROM events WHERE type = 'CrossingRecorded' "
            "AND occurred_at >= toDateTime('2025-06-01 00:00:00', 'UTC') "
            "AND occurred_at < toDateTime('2025-07-01 00:00:00', 'UTC') GROUP BY port"
        ),
    }


def rows_read(store: Store, sql: str) -> int:
    """Rows the query plans to read (``EXPLAIN ESTIMATE``: after partition and key pruning), a
    measure of the plan that the machine's load does not move."""
    return sum(int(row[3]) for row in store.query(f"EXPLAIN ESTIMATE {sql}").rows)


def disk(store: Store) -> dict[str, int]:
    """Bytes on disk of each table of the store's database (active parts)."""
    result = store.query(
        "SELECT table, sum(bytes_on_disk) FROM system.parts "
        "WHERE database = {db:String} AND active GROUP BY table ORDER BY table",
        {"db": store.database},
    )
    return {str(t): int(b) for t, b in result.rows}


def main(argv: list[str] | None = None) -> int:
    """Load both databases, time every question on each, print a table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-baseline-over", type=float, default=None)
    parser.add_argument(
        "--no-baseline-queries",
        action="store_true",
        help="load the plain tables (for the load ratio) but time no query on them",
    )
    parser.add_argument("--only", default="", help="time only queries whose label matches")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "var/bench/audit.json")
    parser.add_argument("--dir", type=Path, default=None, help="parent of the temporary store")
    parser.add_argument("--store", type=Path, default=None, help="keep (and reuse) this store")
    args = parser.parse_args(argv)
    if args.store is not None:
        args.store.mkdir(parents=True, exist_ok=True)
        report = run(Settings.from_env().with_overrides(chdb_path=args.store), args)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-audit-", dir=args.dir) as tmp:
            report = run(Settings.from_env().with_overrides(chdb_path=Path(tmp)), args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def loaded_before(settings: Settings, events: int) -> dict[str, Any] | None:
    """The figures of an earlier load into this (kept) store, or None if it holds none."""
    path = settings.chdb_path / "loaded.json"
    if not path.exists():
        return None
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if loaded["events"] != events:
        raise SystemExit(f"{path}: loaded with {loaded['events']:,} events, not {events:,}")
    return loaded


def load_both(stores: dict[str, Store], events: int, settings: Settings) -> dict[str, Any]:
    """Load ``events`` generated events into both databases; the load's figures."""
    plain_store(stores["plain"])
    generator = Generator(events=events)
    print(f"audit benchmark: {events:,} events into chDB", file=sys.stderr)
    spent = load(stores, generator, settings.sink_batch_size)
    rows = generator.made + generator.emissions
    return {
        "events": events,
        "emissions": generator.emissions,
        "crossings": generator.crossings,
        "traveller": generator.travellers[len(generator.travellers) // 2],
        "load_rows_per_second": {name: rows / seconds for name, seconds in spent.items()},
    }


def time_questions(
    maintained: Store, plain: Store, questions: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    """Time each question (matching ``--only``) on both databases; print a line for each."""
    results: dict[str, Any] = {}
    print(f"{'query':62} {'maintained s':>12} {'plain s':>9} {'ratio':>7} {'/scan':>7} rows read")
    for label, sql in questions.items():
        if not re.search(args.only, label):
            continue
        new = timed(functools.partial(maintained.query, sql), args.runs, None)
        scan = timed(functools.partial(maintained.query, SCAN), args.runs, None)
        new["scan_seconds"] = scan["seconds"]  # the same table read bare, right after
        new["rows_read"] = rows_read(maintained, sql)
        if args.no_baseline_queries:
            old = {"seconds": float("nan"), "runs": [], "rows": None, "not_timed": True}
        else:
            old_sql = on_plain_tables(sql, "plain")
            old = timed(functools.partial(plain.query, old_sql), args.runs, args.skip_baseline_over)
        results[label] = {"sql": sql, "maintained": new, "plain": old}
        ratio = old["seconds"] / new["seconds"] if new["seconds"] else float("inf")
        per_scan = new["seconds"] / scan["seconds"]
        print(
            f"{label[:62]:62} {new['seconds']:12.3f} {old['seconds']:9.3f} {ratio:7.1f} "
            f"{per_scan:7.2f} {new['rows_read']:,}",
            flush=True,
        )
    return results


def run(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """The whole benchmark on one chDB directory; returns the report."""
    stores = {
        name: open_store(settings.with_overrides(clickhouse_database=name), "writer", "chdb")
        for name in ("maintained", "plain")
    }
    loaded = loaded_before(settings, args.events)
    if loaded is None:
        for store in stores.values():
            store.migrate()
        loaded = load_both(stores, args.events, settings)
        if args.store is not None:
            (args.store / "loaded.json").write_text(json.dumps(loaded), encoding="utf-8")
    else:  # the plain database stays as loaded; the maintained one is upgraded as a deployment is
        print(f"audit benchmark: reusing the store loaded with {args.events:,} events")
        stores["maintained"].migrate()
    loads = loaded["load_rows_per_second"]
    print(
        f"load rows/s: maintained {loads['maintained']:,.0f}, plain {loads['plain']:,.0f}, "
        f"ratio {loads['maintained'] / loads['plain']:.2f}"
    )
    maintained, plain = stores["maintained"], stores["plain"]
    questions = {f"Q{n}. {q.question}": q.sql for n, q in enumerate(QUESTIONS, 1)}
    questions.update(probes(maintained, loaded["traveller"]))
    results = time_questions(maintained, plain, questions, args)
    sizes = {name: disk(store) for name, store in stores.items()}
    for store in stores.values():
        store.close()
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "note": "2 cores shared with other work",
        },
        "events": args.events,
        "emissions": loaded["emissions"],
        "crossings": loaded["crossings"],
        "load_rows_per_second": loads,
        "load_ratio_maintained_to_plain": loads["maintained"] / loads["plain"],
        "disk_bytes": sizes,
        "queries": results,
    }


if __name__ == "__main__":
    sys.exit(main())
