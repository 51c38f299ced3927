"""Decisions as a pure function of (known history, policy, watermark) for one traveller.

:func:`derive` applies corrections, sets duplicates aside, folds crossings into stays and runs
every rule family over the result. It returns the full decision set, in a deterministic order that
depends only on the history, and the next instant at which a watermark advance could change it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import NamedTuple

from domain.decisions import Code, Decision
from domain.events import CrossingRecorded, PermitIssued, TravellerEvent
from domain.held import Derived, Held
from domain.held_stays import HeldStays, Reused, reusable_block, stay_blocks
from domain.history import EffectiveHistory, effective_history
from domain.policy import Policy, RuleKind, RuleVersion, local_date
from domain.rules import rolling
from domain.rules.common import DecisionSink, Facts, fmt
from domain.rules.entry import assess_entry, entry_rule
from domain.rules.lanes import LANE_CHANNELS, check_lanes
from domain.rules.permits import check_permit_consistency
from domain.rules.sequence import Sequence as StaySequence
from domain.rules.sequence import Stay, fold_sequence
from domain.rules.stays import in_force, record_airside, record_landside, record_opened

SEQUENCE_RULE = "SEQUENCE"


class Derivation(NamedTuple):
    """The decision set, the next due instant, and the stays it was derived from (a named
    tuple, like the other per-derivation values: cheaper to build than a frozen dataclass)."""

    # A decision, or (derive's ``marks``) the index of a held one derived again unchanged.
    decisions: dict[str, Derived]
    due: datetime | None
    stays: tuple[Stay, ...]
    deadlines: dict[str, datetime | None]  # entry event id -> deadline in force (landside)


def derive(
    traveller_id: str,
    events: tuple[TravellerEvent, ...],
    watermark: datetime | None,
    policy: Policy,
    forgotten: frozenset[str] = frozenset(),
    *,
    held: Held | Sequence[Decision] = (),
    appended: CrossingRecorded | None = None,
    marks: bool = False,
) -> Derivation:
    """Every decision that holds for this history at this watermark.

    ``forgotten`` names the jurisdictions whose older history was pruned (see the sequence fold).
    ``held`` are the decisions held before (derived again unchanged, they are reused as they are).
    ``appended``: a crossing ``events`` end with, later than all others, ``held`` being exactly
    the derivation of the events before it: held_stays.py reuses the stays it leaves alone.
    ``marks``: a held decision derived again unchanged is given as its index in ``held`` (the
    engine's diff then keeps it without building it), else as the decision.
    """
    if isinstance(held, Held):
        view = held if held.rows else None
    else:
        view = Held.of(traveller_id, held) if held else None
    sink = DecisionSink(traveller_id, policy, watermark, view)
    history = effective_history(events)
    facts = Facts.of(history.events)
    seq = fold_sequence(history.events, policy, forgotten)
    reuse = (
        stay_blocks(view, appended, policy) if appended is not None and view is not None else None
    )
    deadlines = _record_stays(seq, facts, sink, policy, reuse)
    _record_after_stays(seq, history, facts, sink, policy)
    decisions = sink.decisions
    if view is not None and not marks:
        decisions = {k: view.decision(d) if isinstance(d, int) else d for k, d in decisions.items()}
    return Derivation(decisions, sink.due, tuple(seq.stays), deadlines)


def _record_after_stays(
    seq: StaySequence,
    history: EffectiveHistory,
    facts: Facts,
    sink: DecisionSink,
    policy: Policy,
) -> None:
    """The decisions that belong to no stay, listed after all the stays' decisions."""
    for c in seq.exits_without_entry:
        port = policy.port(c.port)
        sink.add(
            Code.EXIT_WITHOUT_ENTRY,
            port.jurisdiction if port else None,
            SEQUENCE_RULE,
            (c.event_id,),
            c.occurred_at,
            f"{c.direction.value} at {c.port} with no open stay",
        )
    for c in seq.unknown_ports:
        sink.add(
            Code.POLICY_REVIEW,
            None,
            "PORTS",
            (c.event_id,),
            c.occurred_at,
            f"port {c.port} is not in the policy's port list",
        )
    for kept, dup in history.duplicates:
        port = policy.port(dup.port)
        sink.add(
            Code.DUPLICATE_SUSPECTED,
            port.jurisdiction if port else None,
            SEQUENCE_RULE,
            (kept.event_id, dup.event_id),
            dup.occurred_at,
            f"same port, direction and instant ({dup.port} {dup.direction.value} "
            f"{fmt(dup.occurred_at)}) as {kept.event_id}",
        )
    ports = policy.ports
    for e in history.events:
        if isinstance(e, CrossingRecorded):
            if e.channel in LANE_CHANNELS:  # the only crossings check_lanes looks at
                port = ports.get(e.port)
                if port is not None:
                    check_lanes(e, port, facts, sink)
        elif isinstance(e, PermitIssued):
            check_permit_consistency(e, sink, policy)


def _record_stays(
    seq: StaySequence, facts: Facts, sink: DecisionSink, policy: Policy, reuse: HeldStays | None
) -> dict[str, datetime | None]:
    counted: dict[tuple[str, str], list[date]] = {}  # (jurisdiction, basis) -> days stayed
    deadlines: dict[str, datetime | None] = {}
    for stay in seq.stays:
        if stay.airside:
            record_airside(stay, sink, policy)
            continue
        basis: str = stay.entry.basis or ""
        key = (stay.jurisdiction, basis)
        days = counted.get(key)
        block = reusable_block(reuse, stay) if reuse is not None else None
        if block is not None:
            reused, rule = _record_reused(stay, block, sink, policy, deadlines)
            if reused:
                if rule is not None and rule.kind is RuleKind.ROLLING:
                    counted[key] = (days or []) + stay_days(stay, policy)
                continue
        # no day counted yet for this key: nothing prior, whatever the rule
        prior: Sequence[date] = (
            rolling.prior_days(days, stay.entry_day) if days and _is_rolling(stay, policy) else ()
        )
        sink.hold()  # entry conditions are listed after STAY_OPENED
        terms = assess_entry(stay, facts, prior, sink, policy)
        conditions = sink.unhold()
        deadline, evidence = in_force(stay, terms)
        record_opened(stay, terms, sink, deadline, evidence)
        sink.extend(conditions)
        record_landside(stay, terms.rule_label, sink, policy, (deadline, evidence))
        deadlines[stay.entry.event_id] = deadline
        if terms.rule is not None and terms.rule.kind is RuleKind.ROLLING:
            counted[key] = (days or []) + stay_days(stay, policy)
    return deadlines


def _record_reused(
    stay: Stay,
    block: Reused,
    sink: DecisionSink,
    policy: Policy,
    deadlines: dict[str, datetime | None],
) -> tuple[bool, RuleVersion | None]:
    """Record a landside stay from its held ``block`` (reusable_block): the entry terms as held,
    the outcome recorded again unless the block includes it. Returns whether it did, and the rule
    of the entry; it does not if the block was derived by another rule or policy version (a worker
    restarted with a new policy judges the stay again)."""
    held = block.held
    opened = held.shape(block.start)  # STAY_OPENED: the deadline in force and its evidence
    label, rule = entry_rule(stay, policy)
    if opened[3] != sink.rule_text(label):
        return False, rule
    sink.extend_held(block.start, block.stop)
    deadline = opened[5]
    if not block.complete:
        record_landside(stay, label, sink, policy, (deadline, held.evidence(block.start)))
    deadlines[stay.entry.event_id] = deadline
    return True, rule


def _is_rolling(stay: Stay, policy: Policy) -> bool:
    basis = stay.entry.basis
    if basis is None:
        return False
    rule = policy.rule_for(basis, stay.jurisdiction, stay.entry_day)
    return rule is not None and rule.kind is RuleKind.ROLLING


def stay_days(stay: Stay, policy: Policy, until: datetime | None = None) -> list[date]:
    """The local dates a stay counts for a rolling window (entry and exit day included).

    An open stay counts up to ``until`` (if given); a stay closed by an exit timestamped before
    its entry counts its entry day only.
    """
    end: CrossingRecorded | None = stay.exit or stay.closed_by_entry
    if end is not None:
        port = policy.port(end.port)
        last = local_date(end.occurred_at, port.tz if port else stay.port.tz)
    elif until is not None and stay.open:
        last = local_date(until, stay.port.tz)
    else:
        last = stay.entry_day
    return rolling.stay_days(stay.entry_day, max(last, stay.entry_day))


def rolling_days(
    stays: Sequence[Stay],
    jurisdiction: str,
    basis: str,
    policy: Policy,
    until: datetime | None = None,
) -> list[date]:
    """All days counted by ``basis`` stays in ``jurisdiction``, open stays up to ``until``."""
    days: set[date] = set()
    for stay in stays:
        if stay.airside or stay.jurisdiction != jurisdiction:
            continue
        if stay.entry.basis is None or stay.entry.basis.value != basis:
            continue
        days.update(stay_days(stay, policy, until))
    return sorted(days)
