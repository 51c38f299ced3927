"""Gates and issuing authorities on top of an :class:`~producers.publisher.EventPublisher`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol, TypeVar

from domain.events import Event, GateHeartbeat


class Publisher(Protocol):
    """What :func:`publish_events` needs: an :class:`EventPublisher` or several behind one face
    (``producers.roles.GatesAndAuthorities``)."""

    def publish(self, event: Event) -> None: ...

    def send_heartbeats(
        self, port: str, occurred_at: datetime, event_id: str | None = None
    ) -> list[GateHeartbeat]: ...


P = TypeVar("P", bound=Publisher)


def publish_events(
    events: Iterable[Event],
    publisher: P,
    *,
    progress: Callable[[int, P], None] | None = None,
    progress_every: int = 10_000,
) -> tuple[int, int]:
    """Publish a stream of events; heartbeats fan out to every crossings partition.

    Returns ``(events, heartbeats)`` handed over. Delivery is confirmed by the caller's
    :meth:`EventPublisher.close`.
    """
    sent = beats = 0
    for event in events:
        publisher.publish(event)  # a heartbeat fans out to every crossings partition
        if isinstance(event, GateHeartbeat):
            beats += 1
        else:
            sent += 1
        if progress is not None and (sent + beats) % progress_every == 0:
            progress(sent + beats, publisher)
    return sent, beats
