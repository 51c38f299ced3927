"""Edge validation: what the ledger refuses at its door, before the engine sees an event.

The event contract (``domain.events``) says what an event *is*; this module says what the
ledger *accepts* from the outside world (DOMAIN.md section 2). Checks that need only the event:
every instant (and every permit or pre-registration date) lies in the plausible range, and
``max_stay_days`` cannot push a deadline past it. Checks that need the Kafka record: the event is
on the topic its type belongs to, its key is its traveller id (so a traveller's events share a
partition and one state), and a gate event's ``occurred_at`` is not more than the allowed skew
ahead of the record timestamp (one bad heartbeat must not fire every deadline). A failed check
raises :class:`EdgeViolation` naming the field; the worker dead-letters the message, the sink
passes over it, ``ledger check`` reports the line. Outputs get one check of their own:
:func:`check_storable` keeps every instant inside ClickHouse's ``DateTime`` range, which the
server enforces by refusing the whole batch and chDB by clamping in silence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from base.errors import InvalidEventError
from base.settings import Settings
from domain.event_data import parse_instant
from domain.events import (
    CrossingRecorded,
    Event,
    GateHeartbeat,
    PermitIssued,
    PreRegistrationRecorded,
    StayExtended,
    format_instant,
)

# ClickHouse DateTime: unsigned 32-bit seconds since the epoch.
STORABLE_FROM = datetime(1970, 1, 1, tzinfo=UTC)
STORABLE_UNTIL = datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC)


class EdgeViolation(InvalidEventError):
    """An event the ledger does not accept from outside (the message names field and reason)."""


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """The plausible range ``[earliest, latest)`` and the allowed skew of gate clocks."""

    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    latest: datetime = datetime(2100, 1, 1, tzinfo=UTC)
    max_skew: timedelta = timedelta(minutes=5)

    @classmethod
    def from_settings(cls, settings: Settings) -> EdgeLimits:
        """Limits from the ``plausible_from``, ``plausible_until`` and skew settings."""
        limits = cls(
            earliest=parse_instant(settings.plausible_from, "LEDGER_PLAUSIBLE_FROM"),
            latest=parse_instant(settings.plausible_until, "LEDGER_PLAUSIBLE_UNTIL"),
            max_skew=timedelta(seconds=settings.max_clock_skew_seconds),
        )
        if not STORABLE_FROM <= limits.earliest < limits.latest <= STORABLE_UNTIL:
            raise EdgeViolation(
                "LEDGER_PLAUSIBLE_FROM",
                "the plausible range must be non-empty and inside ClickHouse's DateTime range",
            )
        return limits

    @property
    def span_days(self) -> int:
        """Whole days in the plausible range (the most ``max_stay_days`` can say)."""
        return (self.latest - self.earliest).days

    def check_instant(self, value: datetime, field: str) -> None:
        """Raise unless ``value`` lies in ``[earliest, latest)``."""
        if not self.earliest <= value < self.latest:
            raise EdgeViolation(field, f"{format_instant(value)} is {self._outside()}")

    def check_date(self, value: date, field: str) -> None:
        """Raise unless the calendar day ``value`` lies within the plausible range's days."""
        if not self.earliest.date() <= value < self.latest.date():
            raise EdgeViolation(field, f"{value.isoformat()} is {self._outside()}")

    def _outside(self) -> str:
        return (
            f"outside the plausible range {format_instant(self.earliest)} .. "
            f"{format_instant(self.latest)}"
        )


def check_event(event: Event, limits: EdgeLimits) -> None:
    """The checks that need only the event: plausible instants, dates and stay lengths."""
    limits.check_instant(event.occurred_at, "occurred_at")
    if isinstance(event, CrossingRecorded):
        for field, value in (
            ("onward_departure_at", event.onward_departure_at),
            ("permitted_until", event.permitted_until),
        ):
            if value is not None:
                limits.check_instant(value, field)
    elif isinstance(event, StayExtended):
        limits.check_instant(event.permitted_until, "permitted_until")
    elif isinstance(event, PermitIssued | PreRegistrationRecorded):
        limits.check_date(event.valid_from, "valid_from")
        limits.check_date(event.valid_until, "valid_until")
        days = event.max_stay_days if isinstance(event, PermitIssued) else None
        if days is not None and days > limits.span_days:
            raise EdgeViolation(
                "max_stay_days",
                f"{days} is longer than the plausible range ({limits.span_days} days)",
            )


def check_record(
    event: Event,
    limits: EdgeLimits,
    settings: Settings,
    *,
    topic: str,
    key: bytes | None,
    timestamp_ms: int | None,
) -> None:
    """Every edge check of an event read from Kafka (``check_event`` plus the record's)."""
    check_event(event, limits)
    gate_event = isinstance(event, CrossingRecorded | GateHeartbeat)
    expected = settings.topic_crossings if gate_event else settings.topic_permits
    if topic != expected:
        raise EdgeViolation("type", f"a {type(event).__name__} belongs on {expected}, not {topic}")
    if not isinstance(event, GateHeartbeat) and key != event.traveller_id.encode():
        shown = "no key" if key is None else f"key {key[:64]!r}"
        raise EdgeViolation("traveller_id", f"{shown} is not the traveller id (the record's key)")
    if gate_event and timestamp_ms is not None and timestamp_ms >= 0:
        received = record_instant(timestamp_ms)
        if received is not None and event.occurred_at - received > limits.max_skew:
            raise EdgeViolation(
                "occurred_at",
                f"{format_instant(event.occurred_at)} is more than "
                f"{limits.max_skew.total_seconds():.0f} s ahead of the record timestamp "
                f"{format_instant(received)}",
            )


def record_instant(timestamp_ms: int) -> datetime | None:
    """A Kafka record timestamp (epoch ms) as an instant; ``None`` if Python cannot hold it."""
    try:
        return STORABLE_FROM + timedelta(milliseconds=timestamp_ms)
    except OverflowError:
        return None


def check_storable(value: datetime | None, field: str) -> None:
    """Raise unless ``value`` (if any) fits ClickHouse's ``DateTime`` (1970 .. 2106-02-07)."""
    if value is not None and not STORABLE_FROM <= value <= STORABLE_UNTIL:
        raise EdgeViolation(field, f"{format_instant(value)} does not fit ClickHouse's DateTime")
