"""The restore gate's changelog tail reader against a real transactional topic (issue 12).

Under ``processing_guarantee="exactly_once"`` Faust writes the changelogs inside transactions, so
a fully restored changelog ends with a commit marker one offset past its last record; the gate
compared the applied offset to ``end - 1`` and restarted recovery for nothing. The reader must
call a partition behind exactly when the broker holds a committed record above the applied offset:
never for commit or abort markers, nor for aborted records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.helpers import create_ssl_context

from base.credentials import kafka_client_security
from base.settings import Settings
from streams.worker.changelog_tail import records_beyond
from tests.integration.transactions import write_transaction

pytestmark = pytest.mark.integration


def reader_factory(settings: Settings) -> Callable[[], AIOKafkaConsumer]:
    options = dict(kafka_client_security(settings, "operator"))
    cafile = options.pop("ssl_cafile", None)
    if cafile is not None:
        options["ssl_context"] = create_ssl_context(cafile=cafile)

    def make() -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            **options,
        )

    return make


def transaction(settings: Settings, topic: str, values: list[bytes], *, commit: bool) -> None:
    records = [(topic, b"k", value, 0) for value in values]
    write_transaction(settings, records, commit=commit, client="changelog-tail")


async def end_offset(make: Callable[[], AIOKafkaConsumer], tp: TopicPartition) -> int:
    reader = make()
    await reader.start()
    try:
        return int((await reader.end_offsets([tp]))[tp])
    finally:
        await reader.stop()


def settled_end(make: Callable[[], AIOKafkaConsumer], tp: TopicPartition, expected: int) -> None:
    """Wait for the read_committed end offset to reach ``expected``: the broker writes a
    transaction's markers after answering its commit or abort, so the end moves a little later."""
    deadline = time.monotonic() + 30
    while (end := asyncio.run(end_offset(make, tp))) != expected:
        assert time.monotonic() < deadline, f"end offset {end}, expected {expected}"
        time.sleep(0.1)


def behind(
    make: Callable[[], AIOKafkaConsumer], tp: TopicPartition, applied: int | None
) -> dict[TopicPartition, tuple[int | None, int]]:
    """What the reader reports for ``tp`` when the store applied ``applied``."""

    async def ask() -> dict[TopicPartition, tuple[int | None, int]]:
        end = await end_offset(make, tp)
        return await records_beyond(make, {tp: (applied, end)}, timeout=60)

    return asyncio.run(ask())


def test_markers_and_aborted_records_are_stepped_over_committed_records_are_not(
    kafka_settings: Settings, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("changelog", 1)
    tp = TopicPartition(topic, 0)
    make = reader_factory(kafka_settings)
    transaction(kafka_settings, topic, [b"0", b"1", b"2"], commit=True)  # 0-2, marker at 3
    settled_end(make, tp, 4)
    assert behind(make, tp, 2) == {}, "only the commit marker above the last record"
    assert behind(make, tp, 1) == {tp: (1, 4)}, "record 2 is not applied"
    assert behind(make, tp, None) == {tp: (None, 4)}, "nothing applied"
    transaction(kafka_settings, topic, [b"4", b"5"], commit=False)  # aborted, marker at 6
    settled_end(make, tp, 7)
    assert behind(make, tp, 2) == {}, "aborted records and markers only"
    transaction(kafka_settings, topic, [b"7"], commit=True)  # 7, marker at 8
    settled_end(make, tp, 9)
    assert behind(make, tp, 2) == {tp: (2, 9)}, "record 7 lies beyond the aborted ones"
    assert behind(make, tp, 7) == {}
