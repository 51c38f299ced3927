"""Faust's aiokafka transport, reading ``read_committed`` whatever the processing guarantee.

Faust opens its worker consumer ``read_uncommitted`` unless the app itself is transactional
(``processing_guarantee="exactly_once"``). A third-party producer writing the input topics inside
transactions would then get decisions for data it later aborted, evidence the sink (always
``read_committed``) never stores. This transport differs from Faust's ``kafka://`` one only in
that: its consumer thread asks for ``read_committed`` when it creates the consumer. The app uses
it through the ``ledger-kafka://`` broker URL (:data:`SCHEME`). Its consumer also makes seeks of the
input partitions exact (:class:`~streams.worker.seeking.GuardedSeeks`).
"""

from __future__ import annotations

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


class ReadCommittedConsumer(GuardedSeeks, faust_aiokafka.Consumer):
    """Faust's aiokafka consumer on a :class:`ReadCommittedConsumerThread`, with exact seeks."""

    def _new_consumer_thread(self) -> ReadCommittedConsumerThread:
        return ReadCommittedConsumerThread(self, loop=self.loop, beacon=self.beacon)


class ReadCommittedTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with a :class:`ReadCommittedConsumer`."""

    Consumer: ClassVar[Any] = ReadCommittedConsumer


TRANSPORTS.aliases[SCHEME] = f"{__name__}:ReadCommittedTransport"
