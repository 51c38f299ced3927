"""Per-traveller state of the fold.

:class:`TravellerState` holds the traveller's known history (sorted, bounded by pruning), the
decision set currently held true, the next due instant, the watermark at which pruning could
next forget something, and per jurisdiction the instant up to which pruning has forgotten history
(a late crossing at or before it cannot be judged exactly, DOMAIN.md 4.9). How a state is
persisted is the stream worker's business (``streams.worker.state_format``), not the domain's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.decisions import Decision
from domain.events import TravellerEvent
from domain.held import Held, Ids, Rows, compact
from domain.native import NATIVE


class TravellerState:
    """What the engine keeps about one traveller (immutable).

    Built as ``TravellerState(traveller_id, events, decisions, due, prune_at, forgotten)``; the
    held decisions are kept compact (``held.py``: a state is mostly its decisions) and read back
    as objects by :attr:`decisions`, or field by field through :meth:`held`.
    """

    __slots__ = (
        "decision_ids",
        "decision_rows",
        "due",
        "events",
        "forgotten",
        "prune_at",
        "traveller_id",
    )

    traveller_id: str
    events: tuple[TravellerEvent, ...]
    decision_ids: Ids
    decision_rows: Rows
    due: datetime | None
    prune_at: datetime | None
    # (jurisdiction, instant) sorted by jurisdiction: history up to the instant was forgotten.
    # ``FACTS`` stands for forgotten permits, consent and pre-registrations (any jurisdiction).
    forgotten: tuple[tuple[str, datetime], ...]

    def __init__(  # noqa: PLR0917 - one argument per field, in field order
        self,
        traveller_id: str,
        events: tuple[TravellerEvent, ...] = (),
        decisions: Sequence[Decision] = (),
        due: datetime | None = None,
        prune_at: datetime | None = None,
        forgotten: tuple[tuple[str, datetime], ...] = (),
    ) -> None:
        for d in decisions:
            if d.traveller_id != traveller_id:
                # the compact form keeps the state's traveller once (as the persisted one does)
                raise ValueError(f"decision {d.decision_id} of {d.traveller_id} in {traveller_id}")
        ids, rows = compact(decisions)
        _fill(self, traveller_id, events, ids, rows, due, prune_at, forgotten)

    @property
    def decisions(self) -> tuple[Decision, ...]:
        """The decisions held true, in derivation order (built from the compact form)."""
        return self.held().decisions()

    def held(self) -> Held:
        """A view of the held decisions that reads them without building them."""
        return Held(self.traveller_id, self.decision_ids, self.decision_rows)

    def forgotten_up_to(self, jurisdiction: str) -> datetime | None:
        """The instant up to which this jurisdiction's history was forgotten, if any."""
        for jur, at in self.forgotten:
            if jur == jurisdiction:
                return at
        return None

    @property
    def blank(self) -> bool:
        """Nothing is known or remembered: the traveller's state can be deleted."""
        return not self.events and not self.forgotten and not self.decision_rows

    def _key(self) -> tuple[object, ...]:
        return (
            self.traveller_id,
            self.events,
            self.decision_ids,
            self.decision_rows,
            self.due,
            self.prune_at,
            self.forgotten,
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not TravellerState:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (
            f"TravellerState(traveller_id={self.traveller_id!r}, events={self.events!r}, "
            f"decisions={self.decisions!r}, due={self.due!r}, prune_at={self.prune_at!r}, "
            f"forgotten={self.forgotten!r})"
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"TravellerState is immutable: cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"TravellerState is immutable: cannot delete {name}")


# The slot setters of TravellerState: the engine builds a state per traveller event, and going
# through __init__ (or object.__setattr__ per field) is slower.
(_set_id, _set_events, _set_ids, _set_rows, _set_due, _set_prune_at, _set_forgotten) = (
    getattr(TravellerState, name).__set__
    for name in (
        "traveller_id",
        "events",
        "decision_ids",
        "decision_rows",
        "due",
        "prune_at",
        "forgotten",
    )
)
_new = object.__new__


def _fill(  # noqa: PLR0917 - one argument per slot
    state: TravellerState,
    traveller_id: str,
    events: tuple[TravellerEvent, ...],
    ids: Ids,
    rows: Rows,
    due: datetime | None,
    prune_at: datetime | None,
    forgotten: tuple[tuple[str, datetime], ...],
) -> None:
    _set_id(state, traveller_id)
    _set_events(state, events)
    _set_ids(state, ids)
    _set_rows(state, rows)
    _set_due(state, due)
    _set_prune_at(state, prune_at)
    _set_forgotten(state, forgotten)


def new_state(  # noqa: PLR0917 - one argument per slot, in order
    traveller_id: str,
    events: tuple[TravellerEvent, ...],
    ids: Ids,
    rows: Rows,
    due: datetime | None,
    prune_at: datetime | None,
    forgotten: tuple[tuple[str, datetime], ...],
) -> TravellerState:
    """A state from the compact form of its decisions (``held.py``), built slot by slot (a
    native class refuses ``object.__new__``: it is built holding no decision, then filled)."""
    state: TravellerState = TravellerState(traveller_id) if NATIVE else _new(TravellerState)
    _fill(state, traveller_id, events, ids, rows, due, prune_at, forgotten)
    return state


def with_state(
    state: TravellerState,
    *,
    events: tuple[TravellerEvent, ...] | None = None,
    held: tuple[Ids, Rows] | None = None,
    due: datetime | None = None,
    prune_at: datetime | None = None,
    forgotten: tuple[tuple[str, datetime], ...] | None = None,
    instants: bool = False,
) -> TravellerState:
    """``state`` with the given fields changed (``due`` and ``prune_at`` only if ``instants``:
    both may be set to ``None``)."""
    ids, rows = held if held is not None else (state.decision_ids, state.decision_rows)
    return new_state(
        state.traveller_id,
        state.events if events is None else events,
        ids,
        rows,
        due if instants else state.due,
        prune_at if instants else state.prune_at,
        state.forgotten if forgotten is None else forgotten,
    )


FACTS = "*"
