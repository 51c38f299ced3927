"""Faust application factory for the enforcement worker.

``create_app`` builds the app from :class:`Settings`; nothing is created at import time. The app
reads the co-partitioned crossings and permits topics as raw bytes, hands each message to an
:class:`~streams.worker.enforcer.Enforcer`, and awaits the sends it asks for (decisions and dead
letters). The agent is deliberately thin: every decision lives in the domain.
"""

from __future__ import annotations

from typing import Any

import faust

from streams.settings import Settings
from streams.worker.enforcer import Coordinates, Enforcer


def create_app(settings: Settings) -> faust.App:
    """A configured Faust app with the enforcement agent registered."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
    )
    source = app.topic(
        settings.topic_crossings,
        settings.topic_permits,
        key_serializer="raw",
        value_serializer="raw",
    )
    deadletters = app.topic(settings.topic_deadletter, key_serializer="raw", value_serializer="raw")
    enforcer = Enforcer()

    # concurrency=1: faust-streaming issue 606 commits offsets past in-flight messages otherwise.
    @app.agent(source, concurrency=1)
    async def enforce(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            coordinates = Coordinates(
                topic=message.topic,
                partition=message.partition,
                offset=message.offset,
                timestamp_ms=message.timestamp and int(message.timestamp * 1000),
            )
            outcome = enforcer.handle(event.value, coordinates)
            for dead in outcome.dead_letters:
                await deadletters.send(key=event.key, value=dead)

    return app
