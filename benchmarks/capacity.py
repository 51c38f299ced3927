"""Capacity plan from the benchmarks' measurements (``docs/capacity.md``).

Reads ``var/bench/stream.json`` (``make bench-stream``: one worker's messages/s on a backlog,
the raw aiokafka consumer ceiling of one broker, decisions per traveller event) and
``var/bench/sink.json`` (``make bench-sink``: the sink's rows/s into the ClickHouse server and
the server's bare insert rate), and sizes three scenarios: the national peak day (2.04 M
crossings), ten times that, and the replay of one year (700 M events) within 24 hours.

The model, with its assumptions spelled out (each is a constant below):

* the busiest hour of a day carries ``PEAK_HOUR_SHARE`` of its crossings; a replay runs flat;
* every port sends a heartbeat to every partition each ``HEARTBEAT_SECONDS``;
* workers, sinks, brokers and ClickHouse shards run at most at ``UTILISATION`` of what one of
  them achieved in the benchmark (head-room for rebalances, a lost node and catch-up);
* a worker runs on one core; its benchmark rate is scaled to a fully used core when the shared
  benchmark machine gave it less (``worker_cores`` in stream.json);
* a worker handles the same messages/s on any number of partitions;
* partitions: at least twice the workers (workers can double without re-partitioning), at least
  12, rounded up to a multiple of 12;
* a broker's message budget is the raw consumer ceiling one broker gave one consumer; each
  input message costs 1 write + (RF - 1) replica fetches + 2 reads (worker, sink), a decision
  1 write + (RF - 1) + 1 (sink); brokers are at least 3 (replication factor 3);
* a ClickHouse shard takes the server's bare insert rate; two replicas per shard;
* at least two workers (one may die) and three brokers, whatever the load.

    .venv/bin/python -m benchmarks.capacity [--measure] [--stream var/bench/stream.json]
        [--sink var/bench/sink.json]

``--measure`` first runs both benchmarks back to back (one run: ``bench_stream --no-latency``,
then ``bench_sink --store server``) and records the machine's load average before, between and
after them in ``var/bench/capacity_run.json``; the plan states it, since on a shared machine the
absolute rates mean little without it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from base.settings import PROJECT_ROOT
from streams.policy_file import load_policy

BENCH_DIR = PROJECT_ROOT / "var" / "bench"
PEAK_DAY_CROSSINGS = 2_040_000
REPLAY_EVENTS = 700_000_000
PEAK_HOUR_SHARE = 0.10
HEARTBEAT_SECONDS = 60.0
UTILISATION = 0.5
REPLICATION_FACTOR = 3
CLICKHOUSE_REPLICAS = 2
MIN_WORKERS = 2  # one may die: the other takes its partitions over


@dataclass(frozen=True)
class Measured:
    """The benchmark figures the plan rests on."""

    worker_msgs_per_s: float
    broker_msgs_per_s: float
    decisions_per_event: float
    sink_rows_per_s: float
    server_rows_per_s: float

    @classmethod
    def load(cls, stream: dict[str, Any], sink: dict[str, Any]) -> Measured:
        s = stream["stream"]
        traveller_events = s["messages"] - s["heartbeats"]
        server = sink["stores"]["server"]
        return cls(
            worker_msgs_per_s=_per_core(stream["enforcement"]),
            broker_msgs_per_s=stream["raw"]["aiokafka_per_s"],
            decisions_per_event=stream["enforcement"]["decisions_published"] / traveller_events,
            sink_rows_per_s=server["sink_rows_per_s"],
            server_rows_per_s=server["baseline_rows_per_s"],
        )


def _per_core(enforcement: dict[str, Any]) -> float:
    """The worker's messages/s scaled to one busy core: on a shared machine it may get less."""
    cores = float(enforcement.get("worker_cores") or 1.0)
    return float(enforcement["events_per_s"]) / min(1.0, max(cores, 0.05))


@dataclass(frozen=True)
class Plan:
    name: str
    events_per_s: float
    inputs_per_s: float
    rows_per_s: float
    partitions: int
    workers: int
    sinks: int
    brokers: int
    clickhouse_nodes: int


def plan(name: str, events_per_s: float, m: Measured, ports: int) -> Plan:
    """Size one scenario whose traveller events arrive at ``events_per_s``."""
    per_worker = m.worker_msgs_per_s * UTILISATION
    partitions, inputs, workers = 12, events_per_s, 1
    for _ in range(4):  # heartbeats grow with the partitions: let the pair settle
        inputs = events_per_s + ports * partitions / HEARTBEAT_SECONDS
        workers = max(MIN_WORKERS, math.ceil(inputs / per_worker))
        partitions = max(12, 12 * math.ceil(2 * workers / 12))
    decisions = events_per_s * m.decisions_per_event
    rows = inputs + decisions
    broker_ops = inputs * (REPLICATION_FACTOR + 2) + decisions * (REPLICATION_FACTOR + 1)
    return Plan(
        name=name,
        events_per_s=events_per_s,
        inputs_per_s=inputs,
        rows_per_s=rows,
        partitions=partitions,
        workers=workers,
        sinks=math.ceil(rows / (m.sink_rows_per_s * UTILISATION)),
        brokers=max(3, math.ceil(broker_ops / (m.broker_msgs_per_s * UTILISATION))),
        clickhouse_nodes=CLICKHOUSE_REPLICAS
        * math.ceil(rows / (m.server_rows_per_s * UTILISATION)),
    )


def scenarios(m: Measured, ports: int) -> list[Plan]:
    peak = PEAK_DAY_CROSSINGS * PEAK_HOUR_SHARE / 3600
    return [
        plan("peak day (2.04 M crossings), busiest hour", peak, m, ports),
        plan("ten times the peak day, busiest hour", 10 * peak, m, ports),
        plan("replay of one year (700 M events) in 24 h", REPLAY_EVENTS / 86_400, m, ports),
    ]


def render(m: Measured, plans: list[Plan]) -> str:
    lines = [
        f"measured: worker {m.worker_msgs_per_s:,.0f} msg/s, broker (raw consumer) "
        f"{m.broker_msgs_per_s:,.0f} msg/s, sink {m.sink_rows_per_s:,.0f} rows/s, server "
        f"insert {m.server_rows_per_s:,.0f} rows/s, {m.decisions_per_event:.2f} decisions/event",
        "",
        "| scenario | events/s | input msg/s | rows/s | partitions | workers | sinks | brokers "
        "| ClickHouse nodes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {p.name} | {p.events_per_s:,.0f} | {p.inputs_per_s:,.0f} | {p.rows_per_s:,.0f} | "
        f"{p.partitions} | {p.workers} | {p.sinks} | {p.brokers} | {p.clickhouse_nodes} |"
        for p in plans
    ]
    return "\n".join(lines)


STREAM_RUN = ("benchmarks.bench_stream", "--no-latency", "--travellers", "400", "--days", "1")
SINK_RUN = ("benchmarks.bench_sink", "--store", "server", "--events", "30000")


def measure(stream_out: Path, sink_out: Path, run_out: Path) -> None:
    """Run both benchmarks back to back; record when, and the load average around each."""

    def load() -> float:
        return round(os.getloadavg()[0], 1)

    run: dict[str, Any] = {"cores": os.cpu_count(), "started": time.strftime("%Y-%m-%d %H:%M")}
    run["load_before"] = load()
    for key, (module, *options), out in (
        ("stream", STREAM_RUN, stream_out),
        ("sink", SINK_RUN, sink_out),
    ):
        cmd = [sys.executable, "-m", module, *options, "--out", str(out)]
        subprocess.run(cmd, check=True, cwd=PROJECT_ROOT)
        run[f"load_after_{key}"] = load()
    run["finished"] = time.strftime("%Y-%m-%d %H:%M")
    run_out.write_text(json.dumps(run, indent=2) + "\n")


def describe_run(run: dict[str, Any]) -> str:
    return (
        f"one run, {run['started']} to {run['finished']}, {run['cores']} cores; load average "
        f"(1 min) {run['load_before']} before, {run['load_after_stream']} after bench-stream, "
        f"{run['load_after_sink']} after bench-sink"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stream", type=Path, default=BENCH_DIR / "stream.json")
    parser.add_argument("--sink", type=Path, default=BENCH_DIR / "sink.json")
    parser.add_argument("--run", type=Path, default=BENCH_DIR / "capacity_run.json")
    parser.add_argument("--measure", action="store_true", help="run both benchmarks first")
    args = parser.parse_args(argv)
    if args.measure:
        measure(args.stream, args.sink, args.run)
    measured = Measured.load(json.loads(args.stream.read_text()), json.loads(args.sink.read_text()))
    newest = max(args.stream.stat().st_mtime, args.sink.stat().st_mtime)
    if args.run.exists() and args.run.stat().st_mtime >= newest:
        print(describe_run(json.loads(args.run.read_text())))
    else:  # the JSON files were written since: not the recorded run
        print("benchmark JSON not from one --measure run: the machine's load is not recorded")
    print(render(measured, scenarios(measured, len(load_policy().ports))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
