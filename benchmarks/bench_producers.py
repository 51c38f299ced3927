"""Benchmark of the producers: simulator generation rate and publisher throughput to a real broker.

Measures, in one run on one machine:
- simulator events/s (generation only, no encoding, no I/O);
- codec ``encode_event`` events/s (CPU cost per event on the publish path);
- publisher events/s through a real broker (``EventPublisher``: validation, encoding, buffering,
  transactions committed every ``transaction_ms``), until every event is committed;
- baseline: a raw kafka-python send loop of the same events pre-encoded, same producer settings
  (idempotent, acks=all, no transactions), flushed; ratios are printed against it;
- for reference, the same raw loop in transactions committed every 100 ms (blocking commits),
  what transactions cost kafka-python itself.

The broker is ``--bootstrap HOST:PORT`` or, without it, one started with ``infra.kafka_broker`` on
free ports (and stopped afterwards). Fresh topics are created per run.

    .venv/bin/python -m benchmarks.bench_producers [--travellers 20000] [--bootstrap H:P]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from base.credentials import kafka_client_security
from base.settings import Settings
from domain.events import Event, GateHeartbeat
from producers.roles import GatesAndAuthorities
from producers.simulator import SimulationConfig, simulate
from schemas.codec import encode_event, topic_for


@contextmanager
def _broker(bootstrap: str | None) -> Iterator[Settings]:
    settings = Settings.from_env()
    if bootstrap:
        yield settings.with_overrides(kafka_bootstrap=bootstrap)
        return
    from infra import process
    from infra.kafka_broker import KafkaBroker

    data_dir = Path(tempfile.mkdtemp(prefix="bench-producers-"))
    settings = settings.with_overrides(
        data_dir=data_dir,
        kafka_bootstrap=f"127.0.0.1:{process.free_port('127.0.0.1')}",
        kafka_controller_port=process.free_port("127.0.0.1"),
    )
    broker = KafkaBroker(settings)
    broker.start()
    try:
        yield settings
    finally:
        broker.stop()


def _fresh_topics(settings: Settings) -> Settings:
    from infra.kafka_broker import ensure_kafka_security, ensure_topics

    tag = uuid.uuid4().hex[:8]
    fresh = settings.with_overrides(
        topic_crossings=f"bench.crossings.{tag}", topic_permits=f"bench.permits.{tag}"
    )
    ensure_topics(fresh, [fresh.topic_crossings, fresh.topic_permits])
    ensure_kafka_security(fresh)
    return fresh


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:,.0f} events/s ({n} in {seconds:.2f} s)"


def bench_publisher(settings: Settings, events: Sequence[Event]) -> float:
    """Seconds to publish ``events`` through EventPublisher until all are acknowledged."""
    publisher = GatesAndAuthorities(settings, client_id="bench-publisher")
    publisher.publish(events[0])  # connect and fetch metadata outside the timed loop
    publisher.flush(30)
    start = time.perf_counter()
    for event in events:
        publisher.publish(event)
    publisher.close(timeout=120)
    return time.perf_counter() - start


def bench_raw(settings: Settings, events: Sequence[Event], *, transactions: bool = False) -> float:
    """Seconds for a raw kafka-python loop sending pre-encoded bytes, then flushing (or, with
    ``transactions``, committing a transaction every 100 ms and at the end)."""
    from kafka import KafkaProducer

    prepared = [
        (topic_for(e, settings), None if isinstance(e, GateHeartbeat) else e.traveller_id.encode(),
         encode_event(e))
        for e in events
    ]  # fmt: skip
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "operator"),
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        batch_size=64 * 1024,
        client_id="bench-raw",
        **({"transactional_id": f"bench-raw-{uuid.uuid4().hex[:8]}"} if transactions else {}),
    )
    if transactions:
        producer.init_transactions()
        producer.begin_transaction()
    producer.send(prepared[0][0], value=prepared[0][2], key=prepared[0][1])
    producer.flush()
    start = time.perf_counter()
    opened = start
    for topic, key, value in prepared:
        producer.send(topic, value=value, key=key)
        if transactions and time.perf_counter() - opened >= 0.1:
            producer.commit_transaction()
            producer.begin_transaction()
            opened = time.perf_counter()
    if transactions:
        producer.commit_transaction()
    producer.flush()
    elapsed = time.perf_counter() - start
    producer.close()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--travellers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bootstrap", default=None, help="use this broker instead of starting one")
    parser.add_argument("--publish-events", type=int, default=50_000,
                        help="events published in the broker benchmarks")  # fmt: skip
    args = parser.parse_args(argv)

    print(f"machine: {platform.machine()} {platform.processor() or ''} cpus={os.cpu_count()} "
          f"python={platform.python_version()} {platform.system()}")  # fmt: skip

    config = SimulationConfig(
        start=__import__("datetime").date(2025, 12, 1),
        travellers=args.travellers,
        seed=args.seed,
        violation_share=0.05,
    )
    start = time.perf_counter()
    sim = simulate(config)
    gen = time.perf_counter() - start
    print(f"simulator (generation only): {_rate(len(sim.events), gen)}")

    events = [e for e in sim.events if not isinstance(e, GateHeartbeat)][: args.publish_events]
    start = time.perf_counter()
    for e in events:
        encode_event(e)
    enc = time.perf_counter() - start
    print(f"codec encode_event (validate + encode): {_rate(len(events), enc)}")

    with _broker(args.bootstrap) as settings:
        raw = bench_raw(_fresh_topics(settings), events)
        pub = bench_publisher(_fresh_topics(settings), events)
        raw2 = bench_raw(_fresh_topics(settings), events)
        raw_txn = bench_raw(_fresh_topics(settings), events, transactions=True)
    baseline = min(raw, raw2)
    print(
        "baseline raw kafka-python send loop (pre-encoded, best of 2): "
        f"{_rate(len(events), baseline)}"
    )
    print(f"raw kafka-python loop in transactions of 100 ms: {_rate(len(events), raw_txn)}")
    print(f"publisher (EventPublisher, acks=all, transactions): {_rate(len(events), pub)}")
    print(f"ratio publisher / raw baseline: {baseline / pub:.2f}")
    print(f"ratio raw in transactions / raw baseline: {baseline / raw_txn:.2f}")
    print(
        f"ratio simulator / raw baseline: {(len(sim.events) / gen) / (len(events) / baseline):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
