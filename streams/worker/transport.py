"""Faust's aiokafka transport, reading ``read_committed`` whatever the processing guarantee.

Faust opens its worker consumer ``read_uncommitted`` unless the app itself is transactional
(``processing_guarantee="exactly_once"``). A third-party producer writing the input topics inside
transactions would then get decisions for data it later aborted, evidence the sink (always
``read_committed``) never stores. This transport is Faust's ``kafka://`` one with these changes,
used through the ``ledger-kafka://`` broker URL (:data:`SCHEME`):

* its consumer thread asks for ``read_committed`` when it creates the consumer;
* the consumer asks the broker to hold a fetch for ``settings.worker_fetch_max_wait_ms`` at
  most, not Faust's fixed 1.5 s (:func:`set_fetch_max_wait`);
* its seeks of the input partitions are exact (:class:`~streams.worker.seeking.GuardedSeeks`);
* its consumer thread survives a seek made from Faust's event loop while it hands out fetched
  records (see :class:`_FetchedRecords`).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any, ClassVar

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.worker.seeking import GuardedSeeks

SCHEME = "ledger-kafka"


_FETCH_MAX_WAIT_MS: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()


def set_fetch_max_wait(app: Any, milliseconds: int) -> None:
    """Make the worker consumer of ``app`` ask the broker to hold a fetch at most this long.

    Faust creates its consumer with ``fetch_max_wait_ms=1500`` and no setting to change it.
    aiokafka sends a broker no fetch while one to it is in flight, and a fetch leaves out the
    partitions whose records were fetched but not yet handed out. So after any pause in
    delivery, the next fetch may hold only partitions with nothing new (the permits topic, an
    idle partition): it waits at the broker for the whole time while every busy partition
    waits behind it. At 2,000 messages/s that cost 1.5 s of backlog each time and kept the
    worker behind for good (``make bench-stream``). Must be called before the app starts.
    """
    if milliseconds < 0:
        raise ValueError(f"fetch max wait must not be negative, got {milliseconds} ms")
    _FETCH_MAX_WAIT_MS[app] = milliseconds


class ReadCommittedConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Creates the worker consumer with ``isolation_level="read_committed"`` and the fetch wait
    :func:`set_fetch_max_wait` gave its app."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        # Faust derives the isolation level from the consumer's ``in_transaction`` flag and
        # nothing else; raise the flag for the constructor call only (commits never read it here).
        consumer = self.consumer
        was = consumer.in_transaction
        consumer.in_transaction = True
        try:
            created = super()._create_worker_consumer(transport)
        finally:
            consumer.in_transaction = was
        wait_ms = _FETCH_MAX_WAIT_MS.get(self.app)
        if wait_ms is not None:
            # aiokafka keeps the constructor's value here and hands it to the fetcher it creates
            # when the consumer starts (which has not happened yet).
            if not isinstance(getattr(created, "_fetch_max_wait_ms", None), int):
                raise RuntimeError(
                    "aiokafka's consumer has no _fetch_max_wait_ms: re-check "
                    "streams/worker/transport.py against this aiokafka version"
                )
            created._fetch_max_wait_ms = wait_ms
        return created

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
