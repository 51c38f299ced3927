"""The enforcement agent: Faust batches of the input topics through the processor, and which input
offsets this worker processed.

``register_agent`` attaches the agent to the app and returns the worker's
:class:`~streams.worker.coverage.OffsetCoverage`: the offsets of every batch the processor finished
(its outputs acknowledged, its table writes durable), which ``/health/`` reports and the worker logs
at exit, so whoever checks a group of workers can see that together they processed every offset.
The agent runs with concurrency 1 (faust-streaming issue 606 commits offsets past in-flight
messages otherwise) and stops the whole worker if processing fails: bad input never gets that far.
"""

from __future__ import annotations

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

    async def process(stream: Any) -> None:
        batches = stream.take_events(settings.worker_batch_size, settings.worker_batch_seconds)
        async for events in batches:
            batch = _messages(events, tables)
            await processor.process_batch(batch, tables, publisher)
            coverage.add_all(m.where for m in batch)

    @app.agent(source, concurrency=1)
    async def enforce(stream: Any) -> None:
        try:
            await process(stream)
        except Exception as e:
            # Bad input never gets here (the processor dead-letters it): this is a bug or a
            # broken dependency. Stop the whole worker loudly rather than let Faust restart the
            # agent past the message.
            log.critical("enforcement failed; stopping the worker: %r", e)
            exit_within(settings.worker_shutdown_seconds)
            await app.crash(e)
            raise
        finally:  # what this worker did, for whoever checks the group covered every offset
            log.info("processed offsets at exit: %s", json.dumps(coverage.as_json()))

    return coverage


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
