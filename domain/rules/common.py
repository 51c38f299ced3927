"""Shared plumbing of the rule modules: the decision collector and the traveller's other facts.

:class:`DecisionSink` builds :class:`Decision` values with deterministic ids (a hash of traveller,
code, jurisdiction, rule, evidence and deadline: never of arrival order or wall clock) and collects
the watermark thresholds at which the decision set could change. :class:`Facts` indexes permits,
revocations, consent and pre-registration records for the rules that consult them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import blake2b

from domain.decisions import Code, Decision, Severity
from domain.events import (
    BiometricConsentRecorded,
    CrossingRecorded,
    PermitIssued,
    PermitRevoked,
    PreRegistrationRecorded,
    StayExtended,
    TravellerEvent,
    format_instant,
)
from domain.policy import Policy

_SEP = "\x1f"
_MEMO_LIMIT = 65_536  # distinct texts kept; cleared beyond (officers' limits are unbounded)
SHARED_TEXTS: dict[tuple[object, ...], str] = {}  # see shared_text; read directly on hot paths


def shared_text(key: tuple[object, ...], build: Callable[[], str]) -> str:
    """One string object per distinct ``key`` (built once): rule labels and decision details
    repeat across travellers and across re-derivations, and held decisions then share them."""
    text = SHARED_TEXTS.get(key)
    if text is None:
        if len(SHARED_TEXTS) >= _MEMO_LIMIT:
            SHARED_TEXTS.clear()
        text = SHARED_TEXTS[key] = build()
    return text


def fmt(instant: datetime) -> str:
    """:func:`format_instant`, without its UTC conversion for instants already in UTC.

    Every instant the engine handles is UTC (events are normalised at the edge, deadlines are
    converted), so this skips straight to the ISO form; anything else takes the general path.
    """
    if instant.tzinfo is UTC:
        return instant.isoformat(timespec="milliseconds")[:-6] + "Z"  # "+00:00" -> "Z"
    return format_instant(instant)


def decision_id(
    traveller_id: str,
    code: Code,
    jurisdiction: str | None,
    rule: str,
    evidence: tuple[str, ...],
    *,
    deadline: datetime | None,
) -> str:
    """A deterministic id: the same decision from the same evidence always gets the same id."""
    tail = deadline.isoformat() if deadline is not None else ""
    key = _SEP.join((traveller_id, code, jurisdiction or "", rule, *evidence, tail))
    return blake2b(key.encode(), digest_size=12).hexdigest()


# Held decisions are looked up by what their id hashes (the traveller is the sink's own).
_SCAN_LIMIT = 8  # up to this many held decisions are scanned, more are indexed
HeldKey = tuple[Code, str | None, str, tuple[str, ...], datetime | None]

# The slot setters of Decision, in field order: building a frozen dataclass through its
# generated __init__ (object.__setattr__ per field) is about 3x slower, and the engine builds
# one per derived decision.
(
    _set_id,
    _set_traveller,
    _set_code,
    _set_severity,
    _set_jurisdiction,
    _set_rule,
    _set_evidence,
    _set_deadline,
    _set_overstay,
    _set_observed,
    _set_detail,
) = (getattr(Decision, name).__set__ for name in Decision.__slots__)
_new = object.__new__


def new_decision(  # noqa: PLR0917 - one argument per field, in field order
    decision_id: str,
    traveller_id: str,
    code: Code,
    severity: Severity,
    jurisdiction: str | None,
    rule: str,
    evidence: tuple[str, ...],
    deadline: datetime | None,
    overstay_seconds: int | None,
    observed_at: datetime,
    detail: str,
) -> Decision:
    """``Decision(...)`` with the same fields, built by setting its slots directly."""
    d: Decision = _new(Decision)
    _set_id(d, decision_id)
    _set_traveller(d, traveller_id)
    _set_code(d, code)
    _set_severity(d, severity)
    _set_jurisdiction(d, jurisdiction)
    _set_rule(d, rule)
    _set_evidence(d, evidence)
    _set_deadline(d, deadline)
    _set_overstay(d, overstay_seconds)
    _set_observed(d, observed_at)
    _set_detail(d, detail)
    return d


def held_index(held: Iterable[Decision]) -> dict[HeldKey, Decision]:
    """The held decisions of one traveller by the fields their id is a hash of."""
    return {(d.code, d.jurisdiction, d.rule, d.evidence, d.deadline): d for d in held}


@dataclass(slots=True)
class DecisionSink:
    """Collects the decisions of one derivation, in derivation order, and the next due instant.

    ``held`` are the traveller's decisions held before this derivation: a decision derived again
    with the same content is the held object itself (no id hashing, no new object, and the diff
    against the held set sees it unchanged at once).
    """

    traveller_id: str
    policy: Policy
    watermark: datetime | None
    held: tuple[Decision, ...] = ()
    decisions: dict[str, Decision] = field(default_factory=dict)
    due: datetime | None = None
    _held: list[Decision] | None = None
    _index: dict[HeldKey, Decision] | None = None

    def hold(self) -> None:
        """Buffer the following decisions until :meth:`release` (to order them after another)."""
        self._held = []

    def unhold(self) -> list[Decision]:
        """Stop buffering; the buffered decisions, to be passed to :meth:`extend` later."""
        held, self._held = self._held or [], None
        return held

    def extend(self, decisions: Iterable[Decision]) -> None:
        """Record decisions built earlier."""
        for d in decisions:
            self.decisions[d.decision_id] = d

    def passed(self, deadline: datetime) -> bool:
        """Whether the watermark has passed ``deadline`` (an exit exactly at it is in time).

        When it has not, ``deadline`` becomes a candidate for the next due instant.
        """
        if self.watermark is not None and self.watermark > deadline:
            return True
        if self.due is None or deadline < self.due:
            self.due = deadline
        return False

    def add(  # noqa: PLR0917 - called from every rule; positional reads like a table row
        self,
        code: Code,
        jurisdiction: str | None,
        rule_label: str,
        evidence: tuple[str, ...],
        observed_at: datetime,
        detail: str,
        deadline: datetime | None = None,
        overstay_seconds: int | None = None,
    ) -> None:
        """Record one decision."""
        rule = self.rule_text(rule_label)
        decision = self._derived_again(
            code, jurisdiction, rule, evidence, deadline, overstay_seconds, observed_at, detail
        )
        if self._held is not None:
            self._held.append(decision)
        else:
            self.decisions[decision.decision_id] = decision

    def rule_text(self, rule_label: str) -> str:
        """A decision's ``rule``: the rule's label and the policy version (one shared string)."""
        version = self.policy.version
        rule = SHARED_TEXTS.get((rule_label, version))
        if rule is None:
            rule = shared_text((rule_label, version), lambda: f"{rule_label}/policy:{version}")
        return rule

    def _derived_again(  # noqa: PLR0917 - the fields of the decision, in order
        self,
        code: Code,
        jurisdiction: str | None,
        rule: str,
        evidence: tuple[str, ...],
        deadline: datetime | None,
        overstay_seconds: int | None,
        observed_at: datetime,
        detail: str,
    ) -> Decision:
        """The held decision if it has exactly these fields, else a new one (its id reused)."""
        severity = self.policy.severities[code]
        before = None
        held = self.held
        if len(held) > _SCAN_LIMIT:
            index = self._index
            if index is None:
                index = self._index = held_index(held)
            before = index.get((code, jurisdiction, rule, evidence, deadline))
        else:  # a few held decisions: comparing is cheaper than indexing them
            for d in held:
                if (
                    d.code is code
                    and d.evidence == evidence
                    and d.deadline == deadline
                    and d.rule == rule
                    and d.jurisdiction == jurisdiction
                ):
                    before = d  # the last one with these fields, as in the index
        if before is not None and not _same_instant_text(before.deadline, deadline):
            before = None  # equal instants in other zones hash differently (isoformat offset)
        if before is not None:
            if (
                before.severity is severity
                and before.overstay_seconds == overstay_seconds
                and before.observed_at == observed_at
                and before.detail == detail
            ):
                return before
            did = before.decision_id  # same hashed fields, same traveller: same id
        else:
            did = decision_id(
                self.traveller_id, code, jurisdiction, rule, evidence, deadline=deadline
            )
        return new_decision(
            did,
            self.traveller_id,
            code,
            severity,
            jurisdiction,
            rule,
            evidence,
            deadline,
            overstay_seconds,
            observed_at,
            detail,
        )


def _same_instant_text(held: datetime | None, derived: datetime | None) -> bool:
    """Whether two equal deadlines also have the same ISO text, which the id hashes."""
    if held is derived or held is None or derived is None:
        return True
    return held.tzinfo is UTC and derived.tzinfo is UTC


@dataclass(slots=True)
class Facts:
    """The traveller's permits, revocations, consents, pre-registrations and extensions."""

    permits: dict[str, PermitIssued] = field(default_factory=dict)
    revocations: dict[str, PermitRevoked] = field(default_factory=dict)
    consents: list[BiometricConsentRecorded] = field(default_factory=list)
    preregistrations: list[PreRegistrationRecorded] = field(default_factory=list)
    extensions: list[StayExtended] = field(default_factory=list)

    @classmethod
    def of(cls, events: tuple[TravellerEvent, ...]) -> Facts:
        """Index ``events`` (already in history order).

        Most histories hold crossings only: they share one empty index (the rules only read it).
        """
        facts: Facts | None = None
        for e in events:
            if type(e) is CrossingRecorded:
                continue
            if facts is None:
                facts = cls()
            if isinstance(e, PermitIssued):
                facts.permits[e.permit_id] = e  # a later record of the same permit supersedes
            elif isinstance(e, PermitRevoked):
                facts.revocations.setdefault(e.permit_id, e)  # the earliest revocation counts
            elif isinstance(e, BiometricConsentRecorded):
                facts.consents.append(e)
            elif isinstance(e, PreRegistrationRecorded):
                facts.preregistrations.append(e)
            elif isinstance(e, StayExtended):
                facts.extensions.append(e)
        return _NO_FACTS if facts is None else facts

    def revoked_before(self, permit_id: str, instant: datetime) -> PermitRevoked | None:
        """The revocation of ``permit_id`` that happened strictly before ``instant``, if any."""
        revocation = self.revocations.get(permit_id)
        if revocation is not None and revocation.occurred_at < instant:
            return revocation
        return None

    def consent_at(self, instant: datetime) -> BiometricConsentRecorded | None:
        """The latest consent record at or before ``instant``."""
        latest = None
        for c in self.consents:
            if c.occurred_at > instant:
                break
            latest = c
        return latest


_NO_FACTS = Facts()  # the index of a history without permits, consent, pre-registrations
