"""Faust's aiokafka transport, reading ``read_committed`` whatever the processing guarantee.

Faust opens its worker consumer ``read_uncommitted`` unless the app itself is transactional
(``processing_guarantee="exactly_once"``). A third-party producer writing the input topics inside
transactions would then get decisions for data it later aborted, evidence the sink (always
``read_committed``) never stores. This transport differs from Faust's ``kafka://`` one only in
that: its consumer thread asks for ``read_committed`` when it creates the consumer. The app uses
it through the ``ledger-kafka://`` broker URL (:data:`SCHEME`). Its consumer also makes seeks of the
input partitions exact (:class:`~streams.worker.seeking.GuardedSeeks`), and its consumer thread
survives a seek made from Faust's event loop while it hands out fetched records (see
:class:`_FetchedRecords`).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, ClassVar

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.worker.seeking import GuardedSeeks

SCHEME = "ledger-kafka"


class ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Creates the worker consumer with ``isolation_level="read_committed"``."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        # Faust derives the isolation level from the consumer's ``in_transaction`` flag and
        # nothing else; raise the flag for the constructor call only (commits never read it here).
        consumer = self.consumer
        was = consumer.in_transaction
        consumer.in_transaction = True
        try:
            return super()._create_worker_consumer(transport)
        finally:
            consumer.in_transaction = was

    async def on_start(self) -> None:
        await super().on_start()
        consumer: Any = self._consumer
        fetcher = consumer._fetcher  # created by the consumer's start
        fetcher._records = _FetchedRecords(fetcher._records)


class _FetchedRecords(OrderedDict[Any, Any]):
    """aiokafka's fetched records per partition, where removing an absent one is no error.

    Faust seeks from its own event loop (``Consumer._seek``, and ``GuardedSeeks.guarded_seek``)
    while aiokafka runs on the consumer thread; aiokafka's seek drops the partition's fetched
    records, and when that lands while the fetcher is handing the same records out, the fetcher's
    own removal raised ``KeyError`` and crashed the worker (seen with three workers under load).
    The records handed out in that race are from before the seek: ``GuardedSeeks.getmany`` drops
    them and seeks again, so only the crash needed fixing.
    """

    def __delitem__(self, key: Any) -> None:
        if key in self:
            super().__delitem__(key)


class ReadCommittedConsumer(GuardedSeeks, faust_aiokafka.Consumer):
    """Faust's aiokafka consumer on a :class:`ReadCommittedConsumerThread`, with exact seeks."""

    def _new_consumer_thread(self) -> ReadCommittedConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class ReadCommittedTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with a :class:`ReadCommittedConsumer`."""

    Consumer: ClassVar[Any] = ReadCommittedConsumer


TRANSPORTS.aliases[SCHEME] = f"{__name__}:ReadCommittedTransport"
