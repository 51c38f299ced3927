"""Answers about a traveller's stays at an instant: the open stays with their remaining time
(:class:`StayView`, for ``ledger stay`` and the worker's web view) and the planning answer
(:class:`Plan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain.forgetting import derive_state
from domain.policy import Policy
from domain.state import TravellerState


@dataclass(frozen=True, slots=True)
class StayView:
    """An open stay as ``ledger stay`` reports it (EES "remaining stay")."""

    traveller_id: str
    jurisdiction: str
    entry_event_id: str
    port: str
    basis: str | None
    entered_at: datetime
    deadline: datetime | None
    remaining_seconds: int | None  # negative when overdue


@dataclass(frozen=True, slots=True)
class Plan:
    """How long a stay starting on ``entry_day`` could last under an N-in-M rule."""

    traveller_id: str
    jurisdiction: str
    rule: str
    entry_day: date
    last_day: date | None  # None when no day is left
    days: int
    deadline: datetime | None


def open_stays(state: TravellerState, at: datetime, policy: Policy) -> list[StayView]:
    """The traveller's landside stays open at instant ``at``, with deadline and remaining time.

    The remaining-stay answer of the EES web service; the same function serves ``ledger stay``
    (offline) and the worker's HTTP endpoint (live), so both report identical figures.
    """
    tid = state.traveller_id
    derivation = derive_state(state, at, policy)
    views: list[StayView] = []
    for stay in derivation.stays:
        if stay.airside or not stay.open or stay.entry.occurred_at > at:
            continue
        deadline = derivation.deadlines.get(stay.entry.event_id)
        remaining = None if deadline is None else int((deadline - at).total_seconds())
        views.append(
            StayView(
                tid,
                stay.jurisdiction,
                stay.entry.event_id,
                stay.entry.port,
                stay.entry.basis.value if stay.entry.basis else None,
                stay.entry.occurred_at,
                deadline,
                remaining,
            )
        )
    return views
