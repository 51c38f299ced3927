"""Many gates and authorities behind one publisher, each on its own Kafka principal.

A gate may write only the crossings topic and an authority only the permits topic (the broker's
ACLs, ``infra/kafka_security.py``). Tools that stand in for many of both at once (``ledger
simulate --publish``, ``ledger publish``, ``ledger run``, tests, benchmarks) publish through
:class:`GatesAndAuthorities`: crossings and heartbeats go through a gate's
:class:`~producers.publisher.EventPublisher`, authority events through an authority's.
"""

from __future__ import annotations

from datetime import datetime

from base.settings import Settings
from domain.events import Event, GateHeartbeat
from producers.publisher import (
    DeliveryReport,
    EventPublisher,
    PublisherConfig,
    UndeliveredEventsError,
)
from schemas.codec import topic_for


class GatesAndAuthorities:
    """Routes each event to the gate's or the authority's publisher by its topic."""

    def __init__(
        self, settings: Settings, config: PublisherConfig | None = None, *, client_id: str
    ) -> None:
        self._settings = settings
        self.gates = EventPublisher(settings, config, client_id=f"{client_id}-gates", role="gate")
        self.authorities = EventPublisher(
            settings, config, client_id=f"{client_id}-authorities", role="authority"
        )

    def publish(self, event: Event) -> None:
        """Hand ``event`` to the publisher of its topic."""
        permits = topic_for(event, self._settings) == self._settings.topic_permits
        (self.authorities if permits else self.gates).publish(event)

    def send_heartbeats(
        self, port: str, occurred_at: datetime, event_id: str | None = None
    ) -> list[GateHeartbeat]:
        """Heartbeats are a gate's: to every partition of the crossings topic."""
        return self.gates.send_heartbeats(port, occurred_at, event_id)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds (each) until both have nothing unacknowledged."""
        return self.gates.flush(timeout) & self.authorities.flush(timeout)

    @property
    def delivered(self) -> int:
        return self.gates.delivered + self.authorities.delivered

    @property
    def unacknowledged(self) -> int:
        return self.gates.unacknowledged + self.authorities.unacknowledged

    def close(self, timeout: float = 30.0) -> DeliveryReport:
        """Close both publishers; raise :class:`UndeliveredEventsError` listing both's leftovers."""
        reports = [_closed(p, timeout) for p in (self.gates, self.authorities)]
        report = DeliveryReport(
            delivered=sum(r.delivered for r in reports),
            failed_attempts=sum(r.failed_attempts for r in reports),
            undelivered=tuple(u for r in reports for u in r.undelivered),
        )
        if report.undelivered:
            raise UndeliveredEventsError(report)
        return report


def _closed(publisher: EventPublisher, timeout: float) -> DeliveryReport:
    try:
        return publisher.close(timeout)
    except UndeliveredEventsError as e:
        return e.report  # reported together with the other publisher's, below
