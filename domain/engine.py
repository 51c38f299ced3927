"""The rules engine: a pure per-traveller fold plus the offline driver that runs it over a stream.

``apply_event`` and ``advance_watermark`` are pure functions of (state, input, watermark, policy):
they recompute the traveller's decision set from the known history and emit the difference against
the set previously held (``ISSUED`` new, ``RETRACTED`` gone, same ``decision_id``). ``next_due``
tells a stream processor when a watermark advance could change the traveller's decisions, so that
deadlines can live in an external index. :class:`Engine` is the single-process driver used by
``ledger check``: it tracks the watermark (greatest gate-event ``occurred_at`` seen minus the
allowed lateness) and keeps a heap of due instants scanned whenever the watermark advances. How late
an event is never decides whether it is judged: only what the traveller's state has forgotten does.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta

from domain.clock import EventClock
from domain.decisions import Decision, Emission
from domain.derive import Derivation, derive, rolling_days
from domain.events import (
    CrossingRecorded,
    Event,
    GateHeartbeat,
    TravellerEvent,
)
from domain.forgetting import (
    derive_state,
    forgotten_jurisdictions,
    is_fact,
    late_event_unjudged,
    remembers_unjudged,
    unjudged_decisions,
)
from domain.held import NO_HELD, NO_IDS, NO_ROWS, Held, diff_held
from domain.history import insert_event
from domain.policy import Policy, RuleKind, local_midnight
from domain.prune import next_prune, prune, prune_due
from domain.rules import rolling
from domain.state import TravellerState, new_state, with_state
from domain.stay_views import Plan, StayView, open_stays
from domain.timers import DeadlineIndex

_STALE_SLACK = 1024  # heap entries beyond twice the live ones at the last rebuild, plus these

__all__ = [
    "Engine",
    "Plan",
    "StayView",
    "TravellerState",
    "advance_watermark",
    "apply_event",
    "diff_decisions",
    "fire_due",
    "next_due",
    "open_stays",
]


def diff_decisions(
    held: Iterable[Decision],
    current: Mapping[str, Decision],
    histories: tuple[Sequence[TravellerEvent], ...] = (),
) -> tuple[tuple[Decision, ...], list[Emission]]:
    """The new held set and the emissions turning ``held`` into ``current``.

    Retractions come first (in held order), then issues (in derivation order). A decision whose
    id is kept but whose content changed is retracted and issued again. A decision that did not
    change keeps its held object. The emissions carry the port and instant of their first and
    last evidence crossings among ``histories`` (see :func:`~domain.held.diff_held`, what the
    engine runs on a state's compact held set).
    """
    objects = tuple(held)
    view = Held.of(objects[0].traveller_id if objects else "", objects)
    ids, rows, emissions = diff_held(view, current, histories)
    if rows is view.rows:
        return objects, emissions
    by_id = {d.decision_id: d for d in objects}
    kept = Held(view.traveller_id, ids, rows)
    return tuple(
        _unchanged(by_id.get(kept.decision_id(i)), current[kept.decision_id(i)])
        for i in range(len(kept))
    ), emissions


def _unchanged(before: Decision | None, now: Decision) -> Decision:
    return before if before is not None and before == now else now


def _refresh(
    state: TravellerState,
    events: tuple[TravellerEvent, ...],
    watermark: datetime | None,
    policy: Policy,
    *,
    late: Decision | None = None,
    appended: CrossingRecorded | None = None,
) -> tuple[TravellerState, list[Emission]]:
    held = state.held() if state.decision_rows else NO_HELD
    derivation = derive(
        state.traveller_id,
        events,
        watermark,
        policy,
        forgotten_jurisdictions(state),
        held=held,
        appended=appended,
        marks=True,
    )
    current = derivation.decisions
    unjudged = unjudged_decisions(state)  # not derived from the history: carried over
    if late is not None:
        unjudged.append(late)
    if unjudged:
        current = {**current, **{d.decision_id: d for d in unjudged}}
    ids, rows, emissions = diff_held(held, current, (events, state.events))
    prune_at = next_prune(derivation, events, watermark, policy, unjudged)
    if prune_at is not None and prune_at == state.prune_at:
        prune_at = state.prune_at  # the instant already held (and indexed): no equal copy
    refreshed = new_state(
        state.traveller_id, events, ids, rows, derivation.due, prune_at, state.forgotten
    )
    if watermark is not None and prune_due(refreshed, watermark):
        refreshed = _pruned(refreshed, derivation, watermark, policy)
    return refreshed, emissions


def _pruned(
    state: TravellerState, derivation: Derivation, watermark: datetime, policy: Policy
) -> TravellerState:
    pruned = prune(state, derivation, watermark, policy)
    if len(pruned.events) != len(state.events) or pruned.forgotten != state.forgotten:
        derivation = derive_state(pruned, watermark, policy)
    prune_at = next_prune(derivation, pruned.events, watermark, policy, unjudged_decisions(pruned))
    return with_state(pruned, due=derivation.due, prune_at=prune_at, instants=True)


def apply_event(
    state: TravellerState | None,
    event: TravellerEvent,
    watermark: datetime | None,
    policy: Policy,
) -> tuple[TravellerState, list[Emission]]:
    """Fold one traveller event into the state; ``watermark`` is the one after this event.

    However late, an event is judged against the retained history as if it had arrived in order,
    unless it falls at or before what pruning forgot (``LATE_EVENT_UNJUDGED``, forgetting.py; a
    permit, revocation, consent or pre-registration is flagged so and still admitted). A
    repeated ``event_id`` changes nothing (beyond what the watermark itself makes due).
    """
    if state is None:
        state = new_state(event.traveller_id, (), NO_IDS, NO_ROWS, None, None, ())
    events: tuple[TravellerEvent, ...] | None
    if state.forgotten and remembers_unjudged(state, event.event_id):
        events = None
    else:
        late = late_event_unjudged(state, event, policy)
        events = insert_event(state.events, event)
        if late is not None and events is not None:
            # a fact is still admitted: the retained crossings it supports are judged with it
            kept = events if is_fact(event) else state.events
            return _refresh(state, kept, watermark, policy, late=late)
    if events is None:
        if watermark is None:
            return state, []
        return advance_watermark(state, watermark, policy)
    return _refresh(state, events, watermark, policy, appended=_appended(state, event))


def _appended(state: TravellerState, event: TravellerEvent) -> CrossingRecorded | None:
    """``event`` if it is a crossing later than all the state holds, whose decisions are then
    exactly the derivation of its history (nothing was forgotten, so pruning dropped no stay's
    decision), and it corrects nothing: the derivation may reuse the untouched stays' decisions.
    """
    if type(event) is not CrossingRecorded or event.corrects is not None or state.forgotten:
        return None
    events = state.events
    if not events or events[-1].occurred_at >= event.occurred_at:
        return None
    return event


def advance_watermark(
    state: TravellerState, watermark: datetime, policy: Policy
) -> tuple[TravellerState, list[Emission]]:
    """Re-decide the traveller at a later watermark (a no-op unless it passed ``next_due``)."""
    if state.due is not None and watermark > state.due:
        return _refresh(state, state.events, watermark, policy)
    if prune_due(state, watermark):
        derivation = derive_state(state, watermark, policy)
        return _pruned(state, derivation, watermark, policy), []
    return state, []


def next_due(state: TravellerState) -> datetime | None:
    """The deadline whose passing could change this traveller's decisions.

    Decisions change once the watermark is strictly *past* it (an exit exactly at a deadline is
    within the limit), so a processor calls :func:`advance_watermark` when ``watermark > due``.
    """
    return state.due


def fire_due(
    index: DeadlineIndex,
    shard: int,
    watermark: datetime,
    policy: Policy,
    *,
    load: Callable[[str], TravellerState | None],
    keep: Callable[[TravellerState, TravellerState], None],
) -> list[Emission]:
    """Re-decide the travellers of ``shard`` whose deadline or pruning instant the watermark passed.

    A deadline fires once the watermark is strictly past it (an exit at the deadline is in
    time), a pruning instant once the watermark reaches it. ``load`` gives a traveller's current
    state, ``keep(old, new)`` stores the new one (and must push its instants back into
    ``index``); an entry whose instant no longer matches the state is stale and skipped.
    """
    emissions: list[Emission] = []
    due = index.due.setdefault(shard, [])
    while due and due[0][0] < watermark:
        at, tid = heapq.heappop(due)
        state = load(tid)
        if state is None or state.due != at:
            continue  # stale entry: the traveller's due instant has moved
        new_state, out = advance_watermark(state, watermark, policy)
        emissions.extend(out)
        keep(state, new_state)
    prune = index.prune.setdefault(shard, [])
    while prune and prune[0][0] <= watermark:
        at, tid = heapq.heappop(prune)
        state = load(tid)
        if state is None or state.prune_at != at:
            continue  # stale entry
        new_state, out = advance_watermark(state, watermark, policy)
        emissions.extend(out)
        keep(state, new_state)
    return emissions


class Engine:
    """Offline driver: event-time watermark, per-traveller states, and a deadline heap."""

    def __init__(self, policy: Policy, allowed_lateness: timedelta = timedelta(0)) -> None:
        self.policy = policy
        self.allowed_lateness = allowed_lateness
        self._states: dict[str, TravellerState] = {}
        self._index = DeadlineIndex()  # one shard: the whole stream
        self._live_entries = 0  # heap entries when the heaps were last rebuilt
        self._clock = EventClock()

    @property
    def watermark(self) -> datetime | None:
        """Greatest gate-event ``occurred_at`` seen minus the allowed lateness (see clock.py)."""
        return self._clock.watermark

    def process(self, event: Event) -> list[Emission]:
        """Apply one event in arrival order; return its emissions and those of due timers."""
        self._clock = self._clock.observe(event, self.allowed_lateness)
        watermark = self._clock.watermark
        emissions: list[Emission] = []
        if not isinstance(event, GateHeartbeat):
            tid = event.traveller_id
            old = self._states.get(tid)
            state, emissions = apply_event(old, event, watermark, self.policy)
            self._store(state, old)
        if watermark is not None:
            emissions.extend(self._fire(watermark))
        return emissions

    def advance_to(self, instant: datetime) -> list[Emission]:
        """Move the watermark forward to ``instant`` (e.g. ``--as-of``) and fire due timers."""
        self._clock = self._clock.advance_to(instant)
        assert self._clock.watermark is not None
        return self._fire(self._clock.watermark)

    def state(self, traveller_id: str) -> TravellerState | None:
        """The current state of a traveller, if any."""
        return self._states.get(traveller_id)

    def travellers(self) -> list[str]:
        """Ids of every traveller with state, sorted."""
        return sorted(self._states)

    def decisions(self) -> list[Decision]:
        """Every decision currently held, by traveller then derivation order."""
        return [d for tid in self.travellers() for d in self._states[tid].decisions]

    def _store(self, state: TravellerState, old: TravellerState | None) -> None:
        if state.blank:
            self._states.pop(state.traveller_id, None)
            return
        states = self._states
        states[state.traveller_id] = state
        index = self._index
        index.push(0, old, state)
        if index.size(0) > 2 * self._live_entries + _STALE_SLACK:
            # stale entries (instants that moved) would pile up until popped: keep the live
            # instants only, which pop in the same order (amortised: at most once per doubling)
            self._live_entries = index.compact(0, states)

    def _fire(self, watermark: datetime) -> list[Emission]:
        index = self._index
        due = index.due.get(0)
        prune = index.prune.get(0)
        if (not due or due[0][0] >= watermark) and (not prune or prune[0][0] > watermark):
            return []  # nothing due (the common case: checked before building the callbacks)
        return fire_due(
            self._index,
            0,
            watermark,
            self.policy,
            load=self._states.get,
            keep=lambda old, new: self._store(new, old),
        )

    # ---- queries for `ledger stay` ------------------------------------------------------

    def open_stays(self, at: datetime, traveller_id: str | None = None) -> list[StayView]:
        """Open stays at instant ``at`` with their deadline and remaining time."""
        ids = [traveller_id] if traveller_id is not None else self.travellers()
        views: list[StayView] = []
        for tid in ids:
            state = self._states.get(tid)
            if state is not None:
                views.extend(open_stays(state, at, self.policy))
        return views

    def plan(
        self, traveller_id: str, jurisdiction: str, entry_day: date, at: datetime
    ) -> Plan | None:
        """How long a stay entered on ``entry_day`` could last under the jurisdiction's N-in-M
        rule, counting the known stays (an open one up to ``at``). ``None`` if no such rule."""
        rule = next(
            (
                r
                for r in sorted(self.policy.rules, key=lambda r: r.rule_id)
                if r.kind is RuleKind.ROLLING and jurisdiction in r.jurisdictions
            ),
            None,
        )
        if rule is None:
            return None
        rule = self.policy.rule_for(rule.basis, jurisdiction, entry_day) or rule
        state = self._states.get(traveller_id)
        days: list[date] = []
        tz = next(
            (p.tz for p in self.policy.ports.values() if p.jurisdiction == jurisdiction), None
        )
        if state is not None:
            derivation = derive_state(state, at, self.policy)
            days = rolling_days(derivation.stays, jurisdiction, rule.basis, self.policy, at)
        prior = rolling.prior_days(days, entry_day)
        last = rolling.last_allowed_day(prior, entry_day, rule.amount, rule.window_days)
        count = (last - entry_day).days + 1
        deadline = local_midnight(last + timedelta(days=1), tz) if tz and count > 0 else None
        return Plan(
            traveller_id,
            jurisdiction,
            f"{rule.label}/policy:{self.policy.version}",
            entry_day,
            last if count > 0 else None,
            max(count, 0),
            deadline,
        )
