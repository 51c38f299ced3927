"""Per-traveller state of the fold.

:class:`TravellerState` holds the traveller's known history (sorted, bounded by pruning), the
decision set currently held true, the next due instant, the watermark at which pruning could
next forget something, and per jurisdiction the instant up to which pruning has forgotten history
(a late crossing at or before it cannot be judged exactly, DOMAIN.md 4.9). How a state is
persisted is the stream worker's business (``streams.worker.state_format``), not the domain's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.decisions import Decision
from domain.events import TravellerEvent


@dataclass(frozen=True, slots=True)
class TravellerState:
    """What the engine keeps about one traveller."""

    traveller_id: str
    events: tuple[TravellerEvent, ...] = ()
    decisions: tuple[Decision, ...] = ()
    due: datetime | None = None
    prune_at: datetime | None = None
    # (jurisdiction, instant) sorted by jurisdiction: history up to the instant was forgotten.
    # ``FACTS`` stands for forgotten permits, consent and pre-registrations (any jurisdiction).
    forgotten: tuple[tuple[str, datetime], ...] = ()

    def forgotten_up_to(self, jurisdiction: str) -> datetime | None:
        """The instant up to which this jurisdiction's history was forgotten, if any."""
        for jur, at in self.forgotten:
            if jur == jurisdiction:
                return at
        return None

    @property
    def blank(self) -> bool:
        """Nothing is known or remembered: the traveller's state can be deleted."""
        return not self.events and not self.forgotten and not self.decisions


# The slot setters of TravellerState, in field order: the engine builds a state per traveller
# event, and the frozen dataclass __init__ (object.__setattr__ per field) is slower.
(_set_id, _set_events, _set_decisions, _set_due, _set_prune_at, _set_forgotten) = (
    getattr(TravellerState, name).__set__ for name in TravellerState.__slots__
)
_new = object.__new__


def new_state(  # noqa: PLR0917 - one argument per field, in field order
    traveller_id: str,
    events: tuple[TravellerEvent, ...],
    decisions: tuple[Decision, ...],
    due: datetime | None,
    prune_at: datetime | None,
    forgotten: tuple[tuple[str, datetime], ...],
) -> TravellerState:
    """``TravellerState(...)`` with the same fields, built by setting its slots directly."""
    state: TravellerState = _new(TravellerState)
    _set_id(state, traveller_id)
    _set_events(state, events)
    _set_decisions(state, decisions)
    _set_due(state, due)
    _set_prune_at(state, prune_at)
    _set_forgotten(state, forgotten)
    return state


FACTS = "*"
