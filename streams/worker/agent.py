"""The enforcement agent: Faust batches of the input topics through the processor, and which input
offsets this worker processed.

``register_agent`` attaches the agent to the app and returns the worker's
:class:`~streams.worker.coverage.OffsetCoverage`: the offsets of every batch the processor finished
(its outputs acknowledged, its table writes durable), which ``/health/`` reports and the worker logs
at exit, so whoever checks a group of workers can see that together they processed every offset.
The agent runs with concurrency 1 (faust-streaming issue 606 commits offsets past in-flight
messages otherwise) and stops the whole worker if processing fails: bad input never gets that far.
Outside transactions it may step the next batches while up to ``worker_inflight_batches - 1``
earlier ones become durable, and then holds each message (one more reference) so that Faust,
which acks a batch as soon as the agent asks for the next, counts it processed only once it is
durable.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from typing import TYPE_CHECKING, Any

import faust
from faust.types import TopicT

from base.settings import Settings
from schemas.mapping import Coordinates
from streams.worker.batch import Message
from streams.worker.coverage import OffsetCoverage
from streams.worker.guard import exit_within
from streams.worker.heap import WorkerHeap
from streams.worker.inflight import BatchWrites, DurabilityChain
from streams.worker.processor import Processor

if TYPE_CHECKING:
    from streams.worker.batch import Publisher
    from streams.worker.faust_tables import FaustTables

log = logging.getLogger(__name__)


def register_agent(
    app: faust.App,
    settings: Settings,
    source: TopicT,
    *,
    processor: Processor,
    tables: FaustTables,
    publisher: Publisher,
) -> OffsetCoverage:
    """Attach the enforcement agent reading ``source``; returns the offsets it will process."""
    coverage = OffsetCoverage()
    # Outside transactions the next batches may be processed while earlier ones become durable
    # (worker_inflight_batches, streams.worker.inflight); a transaction spans one batch.
    transactional = settings.processing_guarantee == "exactly_once"
    depth = 1 if transactional else settings.worker_inflight_batches
    stopper = _Stopper(app, settings.worker_shutdown_seconds)

    async def durable(stream: Any, events: Any, batch: list[Message], writes: BatchWrites) -> None:
        await processor.make_durable(tables, writes)
        coverage.add_all(m.where for m in batch)
        if depth > 1:
            for event in events:
                await stream.ack(event)

    chain = DurabilityChain(depth)
    heap = WorkerHeap()

    async def process(stream: Any) -> None:
        batches = stream.take_events(settings.worker_batch_size, settings.worker_batch_seconds)
        async for events in batches:
            heap.at_batch()  # long-lived objects leave the collector's full passes
            batch = _messages(events, tables)
            if depth > 1:  # Faust acks the batch when this returns: held until it is durable
                for event in events:
                    event.message.incref()
            writes = await processor.step_batch(batch, tables, publisher)
            made = functools.partial(durable, stream, events, batch, writes)
            (await chain.submit(made)).add_done_callback(stopper.on_done)
        await chain.drain()

    @app.agent(source, concurrency=1)
    async def enforce(stream: Any) -> None:
        try:
            await process(stream)
        except Exception as e:
            stopper.fail(e)
            raise
        finally:  # what this worker did, for whoever checks the group covered every offset
            await chain.settle(settings.worker_shutdown_seconds)  # batches still becoming durable
            log.info("processed offsets at exit: %s", json.dumps(coverage.as_json()))

    return coverage


class _Stopper:
    """Stops the whole worker on the first failure, of the agent or of a batch's durability.

    Bad input never gets that far (the processor dead-letters it): this is a bug or a broken
    dependency. The worker stops loudly rather than let Faust restart the agent past the batch.
    """

    def __init__(self, app: faust.App, shutdown_seconds: float) -> None:
        self.app = app
        self.shutdown_seconds = shutdown_seconds
        self.failure: BaseException | None = None  # the first one; later ones change nothing
        self._crash: asyncio.Future[None] | None = None  # held: the loop keeps weak references

    def fail(self, e: BaseException) -> None:
        if self.failure is not None:
            return
        self.failure = e
        log.critical("enforcement failed; stopping the worker: %r", e)
        exit_within(self.shutdown_seconds)
        self._crash = asyncio.ensure_future(self.app.crash(e))

    def on_done(self, task: asyncio.Future[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.fail(task.exception())  # type: ignore[arg-type]  # checked just above


def _messages(events: Any, tables: FaustTables) -> list[Message]:
    """A Faust batch as the processor's messages; notes an event per partition in ``tables``."""
    batch = []
    tables.events = {}  # partition -> an event of it, for Faust's table writes
    for event in events:
        m = event.message
        where = Coordinates(
            m.topic,
            m.partition,
            m.offset,
            m.timestamp and int(m.timestamp * 1000),
            event.key,
        )
        batch.append(Message(event.value, where))
        tables.events[m.partition] = event
    return batch
