"""Whether a changelog partition holds a committed record above the offset a store applied.

A store that applied offset ``N`` of a changelog partition whose end offset is ``E`` looks behind
when ``N < E - 1``, but the offsets in between need not be records a consumer is ever handed:
under ``processing_guarantee="exactly_once"`` every transaction ends with a commit (or abort)
marker, so a fully restored transactional changelog ends one offset past its last record, and
aborted records are skipped by a ``read_committed`` reader. :func:`records_beyond` asks the
broker: a ``read_committed`` reader outside any group seeks each partition to the first offset
the store lacks and reads until it is handed a record (really behind) or its position reaches the
end offset (only markers or aborted records were left: restored). aiokafka moves the position
past control batches and aborted records even when it returns nothing, as Kafka's Java consumer
does, so markers are stepped over without being decoded here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth, server_list

Behind = dict[Any, tuple[int | None, int]]  # changelog TP -> (offset applied, end offset)
READ_TIMEOUT_SECONDS = 30.0  # beyond this a partition counts as behind (the safe answer)


def app_reader(app: Any) -> Callable[[], AIOKafkaConsumer]:
    """A factory of ``read_committed`` readers with the Faust app's brokers and login."""
    conf = app.conf

    def make() -> AIOKafkaConsumer:
        transport = app.transport
        return AIOKafkaConsumer(
            bootstrap_servers=server_list(transport.url, transport.default_port),
            client_id=f"{conf.broker_client_id}-changelog-tail",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            request_timeout_ms=int(conf.broker_request_timeout * 1000.0),
            **credentials_to_aiokafka_auth(conf.broker_credentials, conf.ssl_context),
        )

    return make


async def records_beyond(
    make_reader: Callable[[], AIOKafkaConsumer],
    behind: Mapping[Any, tuple[int | None, int]],
    timeout: float = READ_TIMEOUT_SECONDS,
) -> Behind:
    """The partitions of ``behind`` with a committed record above their applied offset."""
    if not behind:
        return {}
    reader = make_reader()
    await reader.start()
    try:
        return await _read_beyond(reader, behind, timeout)
    finally:
        await reader.stop()


async def _read_beyond(
    reader: AIOKafkaConsumer, behind: Mapping[Any, tuple[int | None, int]], timeout: float
) -> Behind:
    pending = {TopicPartition(tp.topic, tp.partition): tp for tp in behind}
    reader.assign(list(pending))
    for plain, tp in pending.items():
        applied = behind[tp][0]
        if applied is None:
            await reader.seek_to_beginning(plain)
        else:
            reader.seek(plain, applied + 1)
    really: Behind = {}
    deadline = asyncio.get_running_loop().time() + timeout
    while pending:
        fetched = await reader.getmany(*pending, timeout_ms=200)
        for plain, records in fetched.items():
            if records and plain in pending:
                tp = pending.pop(plain)
                really[tp] = behind[tp]
        for plain in list(pending):
            tp = pending[plain]
            if await reader.position(plain) >= behind[tp][1]:
                del pending[plain]  # nothing but markers or aborted records up to the end
        if pending and asyncio.get_running_loop().time() > deadline:
            really.update({tp: behind[tp] for tp in pending.values()})
            break
    return really
