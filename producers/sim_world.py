"""The simulation's mutable world: its random source, instants, event ids, crossings and trips.

One :class:`World` per run holds the only ``random.Random`` (seeded), so the order of its calls is
the simulation's determinism. The traveller profiles (:mod:`producers.itineraries`) build their
events from these primitives; :mod:`producers.simulator` runs the whole.
"""

from __future__ import annotations

import dataclasses
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from domain.events import (
    Basis,
    Channel,
    CrossingRecorded,
    Direction,
    Document,
    Event,
)
from producers.sim_config import Profile, SimulationConfig, Violation
from producers.traffic_tables import DIURNAL, LOCAL


def local_instant(day: date, seconds: float) -> datetime:
    """Local wall-clock second ``seconds`` of ``day``, as a UTC instant with ms precision."""
    naive_midnight = datetime.combine(day, time(0))
    local = naive_midnight.replace(tzinfo=LOCAL) + timedelta(seconds=seconds)
    utc = local.astimezone(UTC)
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


_INSTANT_FIELDS = ("occurred_at", "onward_departure_at", "permitted_until")


def to_ms(value: datetime) -> datetime:
    """``value`` truncated to milliseconds, the contract's precision."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _to_millis(event: Event) -> Event:
    """The event with its instants truncated to milliseconds, the contract's precision."""
    changes = {}
    for name in _INSTANT_FIELDS:
        value = getattr(event, name, None)
        if value is not None and value.microsecond % 1000:
            changes[name] = value.replace(microsecond=value.microsecond // 1000 * 1000)
    return dataclasses.replace(event, **changes) if changes else event


@dataclass(slots=True)
class Traveller:
    traveller_id: str
    profile: Profile
    violation: Violation | None
    events: list[tuple[datetime, Event]] = field(default_factory=list)  # (arrival, event)


class World:
    """All mutable simulation state; one instance per run."""

    def __init__(self, config: SimulationConfig) -> None:
        self.cfg = config
        self.rng = random.Random(config.seed)
        self.start = local_instant(config.start, 0)
        self.end = local_instant(config.start + timedelta(days=config.days), 0)
        self.allowed = config.ports

    def event_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def ok(self, *ports: str) -> bool:
        return self.allowed is None or all(p in self.allowed for p in ports)

    def pick(self, options: Sequence[str]) -> str | None:
        usable = [p for p in options if self.ok(p)]
        return self.rng.choice(usable) if usable else None

    def pick_pair(self, pairs: Sequence[tuple[str, str]]) -> tuple[str, str] | None:
        usable = [p for p in pairs if self.ok(*p)]
        return self.rng.choice(usable) if usable else None

    def moment(self, earliest: datetime | None = None, latest_margin_h: float = 0.0) -> datetime:
        """A diurnal-weighted instant inside the window (``latest_margin_h`` before its end)."""
        span_days = self.cfg.days
        for _ in range(50):
            day = self.cfg.start + timedelta(days=self.rng.randrange(span_days))
            hour = self.rng.choices(range(24), weights=DIURNAL)[0]
            at = local_instant(day, hour * 3600 + self.rng.random() * 3600)
            if (earliest is None or at >= earliest) and at <= self.end - timedelta(
                hours=latest_margin_h
            ):
                return at
        return max(self.start, (earliest or self.start))

    def minutes(self, lo: float, hi: float) -> timedelta:
        return timedelta(seconds=round(self.rng.uniform(lo * 60, hi * 60), 3))

    def crossing(
        self, t: Traveller, at: datetime, port: str, direction: Direction, **fields: object
    ) -> CrossingRecorded:
        departure = fields.get("onward_departure_at")
        if isinstance(departure, datetime):
            fields["onward_departure_at"] = to_ms(departure)
        event = CrossingRecorded(
            event_id=self.event_id(),
            traveller_id=t.traveller_id,
            occurred_at=to_ms(at),
            port=port,
            direction=direction,
            gate_id=f"G{self.rng.randrange(1, 25):02d}",
            **fields,  # type: ignore[arg-type]
        )
        return event

    def emit(self, t: Traveller, event: Event, delay: timedelta | None = None) -> None:
        """Record ``event`` with its arrival (occurred_at plus a small transport latency)."""
        event = _to_millis(event)
        latency = delay if delay is not None else self.minutes(0.01, 0.5)
        t.events.append((event.occurred_at + latency, event))

    def stay_bounds(
        self, t: Traveller, limit_days: int, clean_max_days: float, entry_margin_h: float = 4.0
    ) -> tuple[datetime, datetime | None]:
        """(entry, exit or None) for a trip with the traveller's violation, if any, applied."""
        if t.violation is Violation.LATE_EXIT:
            exit_at = self.moment()
            stay = timedelta(days=limit_days + 1 + self.rng.uniform(1, 3))
            return exit_at - stay, exit_at
        if t.violation is Violation.MISSING_EXIT:
            seen = self.moment()
            return seen - timedelta(days=limit_days + 1 + self.rng.uniform(1, 3)), None
        if t.violation in (Violation.OUT_OF_ORDER, Violation.DUPLICATE):
            entry = self.moment(latest_margin_h=min(12.0, self.cfg.days * 24 / 2))
            return entry, entry + self.minutes(60, 360)
        entry = self.moment(latest_margin_h=entry_margin_h)
        stay = timedelta(days=self.rng.uniform(0.05, clean_max_days))
        return entry, entry + stay

    def home_entry(
        self, t: Traveller, before: datetime, port: str, nationality: str, document: Document
    ) -> None:
        """The traveller's last return home, seen before they leave (so the exit is not orphan)."""
        at = before - timedelta(days=self.rng.uniform(2, 60))
        self.emit(
            t,
            self.crossing(
                t,
                at,
                port,
                Direction.ENTRY,
                nationality=nationality,
                document=document,
                channel=Channel.COUNTER,
                basis=Basis.RESIDENT,
            ),
        )

    def land_trip(
        self,
        t: Traveller,
        pair: tuple[str, str],
        at: datetime,
        *,
        outbound: bool,
        basis: Basis,
        docs: tuple[Document, Document] = (Document.EEP, Document.EEP),
        channels: tuple[Channel, Channel] = (Channel.COUNTER, Channel.COUNTER),
        **entry_fields: object,
    ) -> None:
        """One physical crossing: exit from one side, entry into the other a few minutes later.

        ``pair`` is (Mainland port, other port); ``outbound`` means leaving the Mainland. ``docs``
        and ``channels`` are (exit, entry); the traveller is a Chinese citizen.
        """
        nationality = "CHN"
        exit_doc, entry_doc = docs
        exit_channel, entry_channel = channels
        entry_basis = basis
        cn, other = pair
        exit_port, entry_port = (cn, other) if outbound else (other, cn)
        self.emit(
            t,
            self.crossing(
                t,
                at,
                exit_port,
                Direction.EXIT,
                nationality=nationality,
                document=exit_doc,
                channel=exit_channel,
            ),
        )
        entered = at + self.minutes(3, 25)
        self.emit(
            t,
            self.crossing(
                t,
                entered,
                entry_port,
                Direction.ENTRY,
                nationality=nationality,
                document=entry_doc,
                channel=entry_channel,
                basis=entry_basis,
                **entry_fields,
            ),
        )
