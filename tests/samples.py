"""Sample events and decisions for tests: one builder per kind, defaults for what a test ignores.

Tests that only need "a visitor entering Hong Kong", "a talent permit", "a heartbeat" or "a
decision" build it here and name just the fields they care about, so a change to an event or a
decision is made in one place.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from domain.decisions import Code, Decision, Emission, Severity, Status
from domain.events import (
    Basis,
    Channel,
    CrossingRecorded,
    Direction,
    Document,
    Entries,
    GateHeartbeat,
    PermitIssued,
    PermitKind,
)

AT = datetime(2025, 12, 1, 8, 0, tzinfo=UTC)
PORT = "HK-LO-WU"


def hk_visitor_entry(
    traveller: str = "T1", at: datetime = AT, *, event_id: str | None = None, **fields: Any
) -> CrossingRecorded:
    """A GBR passport holder entering at HK-LO-WU's counter as a visitor (``fields`` replaced)."""
    entry = CrossingRecorded(
        event_id=event_id or f"e-{traveller[:20]}-{at.isoformat()}",
        traveller_id=traveller,
        occurred_at=at,
        port=PORT,
        direction=Direction.ENTRY,
        nationality="GBR",
        document=Document.PASSPORT,
        channel=Channel.COUNTER,
        basis=Basis.VISITOR,
    )
    return replace(entry, **fields)


def talent_permit(
    valid_until: date = date(2026, 1, 1),
    *,
    event_id: str = "p1",
    traveller: str = "T1",
    at: datetime = AT,
    max_stay_days: int | None = None,
) -> PermitIssued:
    """A multiple-entry talent permit P1 to Hong Kong issued in Guangdong, valid from 2025."""
    return PermitIssued(
        event_id=event_id,
        traveller_id=traveller,
        occurred_at=at,
        permit_id="P1",
        kind=PermitKind.TALENT,
        issued_in="CN-GD",
        destinations=("HK",),
        valid_from=date(2025, 1, 1),
        valid_until=valid_until,
        entries=Entries.MULTIPLE,
        max_stay_days=max_stay_days,
    )


def heartbeat(at: datetime = AT, event_id: str = "hb", port: str = PORT) -> GateHeartbeat:
    """A gate's heartbeat."""
    return GateHeartbeat(event_id=event_id, occurred_at=at, port=port)


def decision(**fields: Any) -> Decision:
    """T1's stay opened in Hong Kong at :data:`AT` (an INFO decision), ``fields`` replaced."""
    opened = Decision(
        decision_id="d1",
        traveller_id="T1",
        code=Code.STAY_OPENED,
        severity=Severity.INFO,
        jurisdiction="HK",
        rule="HK-VISITOR",
        evidence=("e1",),
        deadline=None,
        overstay_seconds=None,
        observed_at=AT,
        detail="",
    )
    return replace(opened, **fields)


def overstay_emission(decision_id: str, evidence: tuple[str, ...]) -> Emission:
    """t1 issued an OVERSTAY in Hong Kong: left a day after the 2025-11-01 16:00 deadline."""
    return Emission(
        Status.ISSUED,
        decision(
            decision_id=decision_id,
            traveller_id="t1",
            code=Code.OVERSTAY,
            severity=Severity.VIOLATION,
            rule="visitor-7d",
            evidence=evidence,
            deadline=datetime(2025, 11, 1, 16, 0, tzinfo=UTC),
            overstay_seconds=86400,
            observed_at=datetime(2025, 11, 2, 16, 0, 0, 1000, tzinfo=UTC),
            detail="exit after deadline",
        ),
    )
