"""Benchmark: ClickHouse sink throughput (rows/s) into chDB and into the server.

For each backend, N encoded events are first published to fresh topics (not timed). Then, in the
same run and on the same store:

* sink: ``Sink.run`` from offset 0 until caught up into a fresh database (Kafka fetch, Avro
  decode, edge checks, row mapping, Merkle leaves, inserts and progress records); every insert
  it makes is recorded, rows and batch boundaries;
* baseline: the same inserts replayed by a bare ``Store.insert`` into another fresh database:
  the very rows the sink stored (its Merkle columns included: with the leaf hash and the base64
  Kafka value a row cost 13.4 µs to insert into chDB against 8.2 µs without them, measured once),
  in the sink's own batches, with no Kafka and no decoding.

The ratio sink/baseline is the share of the store's raw insert rate the sink achieves. An untimed
warm-up insert comes first: the engine's first inserts in a process (chDB especially) run several
times slower than later ones.

The run also measures the two costs no sink built on the project's libraries can avoid, on the
same messages: reading them with the sink's own kafka-python consumer configuration and nothing
else (``consume``), and decoding each value with the codec, framing checks and fastavro's read
and nothing else (``decode``). Their per-row times added to the baseline's give the **ceiling**:
the ratio a sink would reach if every other step (edge checks, the ``events`` row, the payload
text, the Merkle leaf) cost nothing.

    .venv/bin/python -m benchmarks.bench_sink [--events 50000] [--store chdb server]

By default it starts its own Kafka broker and ClickHouse server (infra/) on free loopback ports in
a temporary directory; ``--use-env`` uses the services named by the ``LEDGER_*`` environment.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from base.credentials import kafka_client_security
from base.settings import PROJECT_ROOT, Settings
from domain.events import (
    Basis,
    Channel,
    CrossingRecorded,
    Direction,
    Document,
    Event,
    GateHeartbeat,
)
from schemas.codec import decode_event, decode_record, encode_event, topic_for
from schemas.mapping import Coordinates
from streams.sink import Sink
from streams.sink_kafka import open_consumer, topic_partitions
from streams.store import open_store
from streams.store.base import Row, Store, Table
from streams.store.rows import event_row


def make_events(n: int) -> list[Event]:
    """``n`` crossings of 5,000 travellers over about two months."""
    start = datetime(2025, 10, 1, tzinfo=UTC)
    return [
        CrossingRecorded(
            event_id=f"bench-{i}",
            traveller_id=f"trav-{i % 5000}",
            occurred_at=start + timedelta(seconds=97 * i, milliseconds=i % 1000),
            port="HK-LO-WU" if i % 3 else "CN-LUOHU",
            direction=Direction.ENTRY if i % 2 else Direction.EXIT,
            nationality="GBR",
            document=Document.PASSPORT,
            channel=Channel.COUNTER,
            basis=Basis.VISITOR if i % 2 else None,
        )
        for i in range(n)
    ]


def _key(event: Event) -> bytes | None:
    """The record key the edge checks expect: the traveller id (heartbeats have none)."""
    return None if isinstance(event, GateHeartbeat) else event.traveller_id.encode()


def publish(settings: Settings, events: list[Event]) -> list[tuple[Coordinates, bytes]]:
    """Publish events; return each message's coordinates and value."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        **kafka_client_security(settings, "operator"),
        acks="all",
        linger_ms=20,
        batch_size=1 << 18,
    )
    values = [encode_event(e) for e in events]
    futures = [
        producer.send(topic_for(e, settings), key=_key(e), value=v)
        for e, v in zip(events, values, strict=True)
    ]
    producer.flush(timeout=120)
    metas = [f.get(timeout=120) for f in futures]
    producer.close()
    return [
        (Coordinates(m.topic, m.partition, m.offset), v) for m, v in zip(metas, values, strict=True)
    ]


@contextmanager
def services(use_env: bool) -> Iterator[Settings]:
    """Settings for running services: the environment's, or our own started under a temp dir."""
    settings = Settings.from_env()
    if use_env:
        yield settings
        return
    from infra import process
    from infra.clickhouse_server import ClickHouseServer
    from infra.kafka_broker import KafkaBroker

    with tempfile.TemporaryDirectory(prefix="bench-sink-") as tmp, ExitStack() as stack:
        host = "127.0.0.1"
        settings = settings.with_overrides(
            data_dir=Path(tmp),
            chdb_path=Path(tmp) / "chdb",
            kafka_bootstrap=f"{host}:{process.free_port(host)}",
            kafka_controller_port=process.free_port(host),
            clickhouse_port=process.free_port(host),
            clickhouse_http_port=process.free_port(host),
        )
        broker = KafkaBroker(settings)
        stack.callback(broker.stop)
        broker.start()
        server = ClickHouseServer(settings)
        stack.callback(server.stop)
        server.start()
        yield settings


Inserts = list[tuple[Table, Sequence[Row]]]


def bare_insert(settings: Settings, inserts: Inserts) -> float:
    """Rows/s of ``Store.insert`` replaying ``inserts`` (table, rows) into a fresh database."""
    with open_store(settings, "writer", settings.store) as store:
        store.migrate()
        t0 = time.perf_counter()
        for table, rows in inserts:
            store.insert(table, rows)
        elapsed = time.perf_counter() - t0
    return sum(len(rows) for _, rows in inserts) / elapsed


def recording_inserts(store: Store) -> Inserts:
    """Make ``store`` record every ``insert`` call (the rows are kept, not copied: the sink
    drops its batch after storing it and never touches those rows again)."""
    calls: Inserts = []
    insert = store.insert

    def recorded(table: Table, rows: Sequence[Row]) -> None:
        insert(table, rows)
        calls.append((table, rows))

    store.insert = recorded  # type: ignore[method-assign]
    return calls


def consume_only(settings: Settings, n: int) -> float:
    """Records/s of the sink's consumer configuration reading the ``n`` crossings, no work."""
    consumer = open_consumer(settings, "bench-sink-consume")
    try:
        tps = topic_partitions(consumer, [settings.topic_crossings], threading.Event())
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        read = 0
        t0 = time.perf_counter()
        while read < n:
            batch = consumer.poll(timeout_ms=500, max_records=settings.sink_batch_size)
            read += sum(len(records) for records in batch.values())
            if time.perf_counter() - t0 > 300:
                raise RuntimeError(f"read {read} of {n} crossings in 300 s")
        return read / (time.perf_counter() - t0)
    finally:
        consumer.close()


def decode_only(values: list[bytes]) -> float:
    """Values/s of the codec's framing checks and fastavro's read, no mapping to an event."""
    name = type(decode_event(values[0])).__name__
    t0 = time.perf_counter()
    for value in values:
        decode_record(value, name)
    return len(values) / (time.perf_counter() - t0)


def ceiling(baseline: float, consume: float, decode: float) -> float:
    """The sink/baseline ratio if everything but consuming, decoding and inserting were free."""
    return (1 / baseline) / (1 / baseline + 1 / consume + 1 / decode)


def bench(settings: Settings, backend: str, n: int) -> dict[str, float]:
    """Rows/s of the baseline and the sink, and of consuming and decoding alone, for one
    backend."""
    from infra.kafka_broker import ensure_kafka_security, ensure_topics

    suffix = uuid.uuid4().hex[:8]
    settings = settings.with_overrides(
        store=backend,
        topic_crossings=f"bench.crossings.{suffix}",
        topic_permits=f"bench.permits.{suffix}",
        topic_decisions=f"bench.decisions.{suffix}",
        topic_deadletter=f"bench.deadletter.{suffix}",
        topic_checkpoints=f"bench.checkpoints.{suffix}",
    )
    ensure_topics(
        settings,
        [
            settings.topic_crossings,
            settings.topic_permits,
            settings.topic_decisions,
            settings.topic_deadletter,
            settings.topic_checkpoints,  # the sink publishes its signed Merkle checkpoints
        ],
    )
    ensure_kafka_security(settings)  # the sink may read this run's own topics
    messages = publish(settings, make_events(n))
    now = datetime.now(UTC)
    warm = [event_row(decode_event(v), at, now) for at, v in messages[:20_000]]
    size = settings.sink_batch_size
    bare_insert(
        settings.with_overrides(clickhouse_database=f"bench_warm_{suffix}"),
        [(Table.EVENTS, warm[i : i + size]) for i in range(0, len(warm), size)],
    )

    sink_settings = settings.with_overrides(clickhouse_database=f"bench_sink_{suffix}")
    with open_store(sink_settings, "writer", backend) as store:
        store.migrate()
        inserts = recording_inserts(store)
        sink = Sink(sink_settings, store)
        ends = sink.end_offsets()
        t0 = time.perf_counter()
        stats = sink.run(until=ends)
        elapsed = time.perf_counter() - t0
        assert stats.inserted["events"] == n, stats.summary()
        stored = store.query("SELECT count() FROM events").rows[0][0]
        assert stored == n, stored
    replayed = sum(len(rows) for table, rows in inserts if table is Table.EVENTS)
    assert replayed == n, (replayed, n)  # the baseline stores exactly what the sink stored
    baseline = bare_insert(
        settings.with_overrides(clickhouse_database=f"bench_base_{suffix}"), inserts
    )
    return {
        "baseline_rows_per_s": baseline,
        "sink_rows_per_s": n / elapsed,
        "consume_only_per_s": consume_only(settings, n),
        "decode_only_per_s": decode_only([v for _, v in messages]),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table of rows/s per backend."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--store", nargs="+", choices=("chdb", "server"), default=["chdb", "server"]
    )
    parser.add_argument("--use-env", action="store_true", help="use the LEDGER_* services")
    parser.add_argument(
        "--out",
        type=Path,
        default=PROJECT_ROOT / "var" / "bench" / "sink.json",
        help="figures as JSON",
    )
    args = parser.parse_args(argv)
    figures: dict[str, dict[str, float]] = {}
    with services(args.use_env) as settings:
        print(
            f"sink benchmark: {args.events} events, batch {settings.sink_batch_size}",
            file=sys.stderr,
        )
        print(
            f"{'store':8} {'baseline rows/s':>16} {'sink rows/s':>12} {'ratio':>6} "
            f"{'consume/s':>10} {'decode/s':>9} {'ceiling':>7}"
        )
        for backend in args.store:
            f = figures[backend] = bench(settings, backend, args.events)
            base, consume, decode = (
                f["baseline_rows_per_s"],
                f["consume_only_per_s"],
                f["decode_only_per_s"],
            )
            f["ceiling_ratio"] = ceiling(base, consume, decode)
            print(
                f"{backend:8} {base:16,.0f} {f['sink_rows_per_s']:12,.0f} "
                f"{f['sink_rows_per_s'] / base:6.2f} {consume:10,.0f} {decode:9,.0f} "
                f"{f['ceiling_ratio']:7.2f}"
            )
    # benchmarks/capacity.py reads these figures (docs/capacity.md).
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"events": args.events, "stores": figures}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
