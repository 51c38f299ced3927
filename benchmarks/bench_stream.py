"""Benchmark of the enforcement worker: throughput per worker and decision latency under load.

In one run, against one Kafka broker (its own, on free loopback ports under a temp dir, stopped at
the end; or the ``LEDGER_KAFKA_BOOTSTRAP`` broker when ``LEDGER_BENCH_USE_ENV_KAFKA=1`` or
``--bootstrap H:P``):

1. a seeded simulation (3,000 travellers x 2 days, 10% injected violations, a heartbeat per port
   every 5 x partitions minutes: each fans out to every partition, so the backlog holds one
   heartbeat message per port every 5 minutes, as before heartbeats fanned out) is published
   with ``EventPublisher`` to fresh crossings/permits topics (4 partitions);
2. BASELINE: the ceiling of a raw consumer that only reads and decodes those topics: every
   partition assigned from the beginning, ``decode_event`` on every message, messages/s from the
   first message received to the last. Measured with aiokafka (the client Faust runs on; this is
   the baseline of the ratio) and with kafka-python (for reference), best of two each;
3. CEILING: the Faust null agent (``benchmarks.null_agent``: the worker's Faust settings and
   ``take_events`` batches, no tables, no decoding, no outputs) over the same backlog, timed like
   the worker: the most a Faust worker can do here;
4. ENFORCEMENT: one ``ledger worker`` subprocess (default loglevel, as users run it) with a
   fresh app id on that backlog; events/s from the first observation of the worker's
   ``/health/`` ``processed`` counter above zero to the first observation at the total (startup,
   rebalance and table recovery excluded). Reported as ratios to the null agent and to the raw
   consumer. Then its table changelogs are read back: bytes written per traveller event;
   IN PROCESS (secondary, no Kafka, no Faust): ``Processor.process_batch``, the agent's own batch
   code, over in-memory tables on the same raw messages, then once more under cProfile: where
   the worker's CPU goes apart from Faust, aiokafka and RocksDB, and the stored bytes per
   traveller state;
5. LATENCY: a second fresh worker (new app id, fresh topics), warmed up and caught up, is offered
   fixed loads in turn by a paced kafka-python producer (the gates' settings: idempotent,
   acks=all, linger 5 ms) publishing pre-encoded real events: fresh travellers entering
   HK-AIRPORT as visitors (each entry yields at least a STAY_OPENED decision, checked offline
   first) plus a gate heartbeat to every partition twice a second. First a probe load below the
   worker's capacity (500 messages/s for 10 s), then the target load (2,000 messages/s for 30 s);
   each is given 20 s to drain. The decisions topic is consumed concurrently. The triggering
   event of a decision is the LAST id of its evidence (for a fresh entry's STAY_OPENED it is the
   entry itself); latency = time the first decision triggered by an entry reached the consumer
   (wall clock) - time the entry was handed to the producer. The decision's Kafka record
   timestamp (CreateTime, stamped by the worker's producer when it sends) minus the send time is
   given too (it leaves out the worker's wait for acks, the broker write and the consumer's
   fetch). Alongside: the worker's processed rate during the load, how far behind it was when
   the load ended, and the CPU cores used by the worker, the broker and this process.

``--profile-worker`` adds a run of the backlog through a third worker under cProfile (its dump
goes to ``var/bench/stream-worker.prof``). The worker log's ERROR lines are reported, except the
``GroupCoordinatorNotAvailableError`` a fresh consumer group retries at startup.

Figures are printed as a table and written to ``var/bench/stream.json``; worker logs go to
``var/bench/stream-worker-*.log``.

    .venv/bin/python -m benchmarks.bench_stream [--travellers 3000] [--days 2] [--rate 2000]
        [--duration 30] [--probe-rate 500] [--probe-duration 10] [--profile-worker]
        [--no-latency] [--bootstrap H:P]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

from base.settings import Settings
from benchmarks.stream_baselines import publish_backlog, raw_aiokafka, raw_kafka_python
from benchmarks.stream_common import NULL_AGENT_COMMAND, OUT_DIR, RawMessage
from benchmarks.stream_latency import latency_under_load
from benchmarks.stream_report import report
from benchmarks.stream_services import bench_broker, fresh_settings, new_group
from benchmarks.stream_throughput import (
    changelog_bytes,
    enforcement_throughput,
    in_process,
    profile_in_process,
    worker_profile,
)
from domain.events import (
    Event,
    GateHeartbeat,
)

# --- main ----------------------------------------------------------------------------------------


def _terminate_on_sigterm() -> None:
    def handler(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def _stamp(began: float, message: str) -> None:
    print(f"[{time.monotonic() - began:6.1f}s] {message}", file=sys.stderr, flush=True)


def _stream_figures(args: argparse.Namespace, events: tuple[Event, ...]) -> dict[str, Any]:
    """The backlog's description (partitions filled in once the broker is up)."""
    return {
        "travellers": args.travellers,
        "days": args.days,
        "seed": args.seed,
        "violation_share": 0.1,
        "partitions": 0,
        "messages": len(events),
        "heartbeats": sum(isinstance(e, GateHeartbeat) for e in events),
    }


def _raw_figures(
    backlog: Settings, total: int, began: float
) -> tuple[dict[str, float], float, float, list[RawMessage]]:
    """Best-of-two raw consumers: figures, aiokafka and kafka-python seconds, the messages read."""
    aio = min(raw_aiokafka(backlog, total) for _ in range(2))
    kp1, messages = raw_kafka_python(backlog, total, keep=True)
    kp = min(kp1, raw_kafka_python(backlog, total)[0])
    _stamp(
        began,
        f"raw consumers: aiokafka {total / aio:,.0f}/s, kafka-python {total / kp:,.0f}/s",
    )
    return {"aiokafka_per_s": total / aio, "kafka_python_per_s": total / kp}, aio, kp, messages


def _throughput_figures(
    backlog: Settings, total: int, aio: float, kp: float, began: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The Faust null agent, then the worker, over the backlog: their figures."""
    null = enforcement_throughput(
        new_group(backlog, "null"), total, "null-agent", command=NULL_AGENT_COMMAND
    )
    _stamp(began, f"Faust null agent: {null.events_per_s:,.0f} msg/s")
    thr = enforcement_throughput(backlog, total)
    traveller_events = int(thr.health["processed"]) - int(thr.health["heartbeats"])
    changelogs = changelog_bytes(backlog)
    null_agent = {
        "events_per_s": null.events_per_s,
        "seconds": null.seconds,
        "counted": null.counted,
        "ratio_vs_aiokafka": null.events_per_s * aio / total,
        "worker_cores": null.worker_cores,
    }
    enforcement = {
        "events_per_s": thr.events_per_s,
        "seconds": thr.seconds,
        "counted": thr.counted,
        "ratio_vs_null_agent": thr.events_per_s / null.events_per_s,
        "ratio_vs_aiokafka": thr.events_per_s * aio / total,
        "ratio_vs_kafka_python": thr.events_per_s * kp / total,
        "startup_s": thr.startup_s,
        "worker_cores": thr.worker_cores,
        "decisions_published": thr.decisions,
        "lag_after": thr.lag_after,
        "producer_buffer_full_warnings": thr.buffer_full_warnings,
        "traveller_events": traveller_events,
        "changelogs": changelogs,
        "changelog_bytes_per_traveller_event": (
            sum(v for k, v in changelogs.items() if k.endswith("_bytes")) / max(1, traveller_events)
        ),
        "health": thr.health,
        "log_problems": thr.log_problems[:20],
    }
    _stamp(began, f"worker: {thr.events_per_s:,.0f} events/s")
    return null_agent, enforcement


def _in_process_figures(
    settings: Settings, messages: list[RawMessage], enforcement: dict[str, Any], began: float
) -> dict[str, Any]:
    """The worker's batch code in process over the same messages (best of two), and its profile."""
    total = len(messages)
    traveller_events = enforcement["traveller_events"]
    batch, lateness = settings.worker_batch_size, settings.allowed_lateness_seconds
    runs = [in_process(messages, batch, lateness) for _ in range(2)]
    best = min(runs, key=lambda r: r.seconds)
    figures = {
        "events_per_s": total / best.seconds,
        "emissions": best.emissions,
        "ratio_enforcement_vs_in_process": enforcement["events_per_s"] * best.seconds / total,
        "travellers_stored": len(best.state_bytes),
        "state_bytes_per_traveller_mean": statistics.fmean(best.state_bytes),
        "state_bytes_per_traveller_median": statistics.median(best.state_bytes),
        "table_writes_per_traveller_event": best.table_writes / max(1, traveller_events),
        "table_bytes_per_traveller_event": best.table_bytes / max(1, traveller_events),
        "profile_top_tottime": profile_in_process(messages, batch, lateness),
    }
    _stamp(began, f"in process: {total / best.seconds:,.0f} events/s")
    return figures


def _profiled_worker_figures(backlog: Settings, total: int, began: float) -> dict[str, Any]:
    """A third worker over the backlog under cProfile; its dump's top functions."""
    from infra.kafka_broker import ensure_topics, project_topics

    dump = OUT_DIR / "stream-worker.prof"
    dump.unlink(missing_ok=True)
    profiled = new_group(backlog, "profiled")
    ensure_topics(profiled, project_topics(profiled))
    under = enforcement_throughput(profiled, total, "profiled", profile=dump)
    # The dump is written when the worker has exited (the context waited for it).
    figures = {
        "events_per_s_under_cprofile": under.events_per_s,
        "dump": str(dump),
        "top_tottime": worker_profile(dump) if dump.exists() else [],
    }
    _stamp(began, f"profiled worker: {under.events_per_s:,.0f} events/s")
    return figures


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every phase; returns the figures (what goes to the JSON file)."""
    from infra.kafka_broker import KafkaBroker
    from producers.simulator import SimulationConfig, simulate

    began = time.monotonic()
    config = SimulationConfig(
        start=date(2025, 12, 1),
        days=args.days,
        travellers=args.travellers,
        seed=args.seed,
        violation_share=0.1,
        # A heartbeat reaches every partition: beat that much less often, so the backlog keeps
        # one heartbeat message per port every 5 minutes (the input this benchmark always had).
        heartbeat_minutes=5 * Settings.from_env().partitions,
    )
    events = simulate(config).events
    results: dict[str, Any] = {
        "machine": f"{platform.machine()} cpus={os.cpu_count()} "
        f"python={platform.python_version()} {platform.system()}",
        "stream": _stream_figures(args, events),
    }
    data_dir = Path(tempfile.mkdtemp(prefix="bench-stream-"))
    try:
        with bench_broker(args.bootstrap, data_dir / "services") as settings:
            broker_pid = KafkaBroker(settings).pid()  # None for an external broker
            results["stream"]["partitions"] = settings.partitions
            _stamp(began, f"broker {settings.kafka_bootstrap} ready")
            backlog = fresh_settings(settings, "backlog")
            total, pub_s = publish_backlog(backlog, events)
            results["stream"]["messages"] = total  # each heartbeat on every partition
            results["stream"]["heartbeats"] *= settings.partitions
            _stamp(began, f"published {total} messages with EventPublisher in {pub_s:.1f}s")
            results["raw"], aio, kp, messages = _raw_figures(backlog, total, began)
            null_agent, enforcement = _throughput_figures(backlog, total, aio, kp, began)
            results["null_agent"], results["enforcement"] = null_agent, enforcement
            results["in_process"] = _in_process_figures(settings, messages, enforcement, began)
            if args.profile_worker:
                results["worker_profile"] = _profiled_worker_figures(backlog, total, began)
            if not args.no_latency:
                loads = [(args.rate, args.duration)]
                if args.probe_rate > 0:
                    loads.insert(0, (args.probe_rate, args.probe_duration))
                results["latency"] = latency_under_load(
                    fresh_settings(settings, "latency"), loads, broker_pid
                )
                _stamp(began, "latency phase done")
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    results["elapsed_s"] = time.monotonic() - began
    return results


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--travellers", type=int, default=3000)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=2000.0, help="offered messages/s")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of offered load")
    parser.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    parser.add_argument(
        "--probe-rate",
        type=float,
        default=500.0,
        help="a lighter load offered first (0: none), msg/s",
    )
    parser.add_argument("--probe-duration", type=float, default=10.0)
    parser.add_argument("--no-latency", action="store_true", help="skip the latency phase")
    parser.add_argument(
        "--profile-worker",
        action="store_true",
        help="also run the backlog through a worker under cProfile",
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR / "stream.json")
    args = parser.parse_args(argv)
    _terminate_on_sigterm()
    results = run(args)
    print()
    report(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"\nwritten {args.out} ({results['elapsed_s']:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
