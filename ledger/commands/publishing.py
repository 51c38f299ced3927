"""Shared glue of ``ledger simulate --publish`` and ``ledger publish``: events in, Kafka out.

Opens a gate's and an authority's publisher (:class:`~producers.roles.GatesAndAuthorities`),
streams the events through them (heartbeats fan out to every crossings partition), prints
progress to stderr, closes with a flush timeout and prints the final count. Undelivered events
surface as :class:`~producers.publisher.UndeliveredEventsError`, which the CLI reports with a
non-zero exit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TextIO

from base.settings import Settings
from domain.events import Event


def publish_to_kafka(
    events: Iterable[Event], settings: Settings, *, flush_timeout: float, err: TextIO = sys.stderr
) -> int:
    """Publish ``events`` and report on ``err``; return the number of events acknowledged."""
    from producers.gates import publish_events
    from producers.roles import GatesAndAuthorities

    def progress(n: int, publisher: GatesAndAuthorities) -> None:
        print(
            f"  {n} handed over, {publisher.delivered} acknowledged, "
            f"{publisher.unacknowledged} buffered",
            file=err,
            flush=True,
        )

    publisher = GatesAndAuthorities(settings, client_id="ledger-cli")
    print(f"publishing to {settings.kafka_bootstrap}", file=err, flush=True)
    try:
        sent, beats = publish_events(events, publisher, progress=progress)
    finally:
        report = publisher.close(timeout=flush_timeout)  # raises when events were not delivered
    print(
        f"published {sent} events and {beats} heartbeats: {report.delivered} records "
        f"acknowledged, {report.failed_attempts} failed attempts retried",
        file=err,
        flush=True,
    )
    return report.delivered
