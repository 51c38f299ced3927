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

from domain.decisions import Code, new_decision
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
from domain.held import DIGEST, STRIDE, Derived, Held, SharedShape, evidence_parts
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


def held_index(held: Held) -> dict[HeldKey, int]:
    """The held decisions of one traveller (their indexes) by the fields their id is a hash of."""
    index: dict[HeldKey, int] = {}
    for i in range(len(held)):
        shape = held.shape(i)
        index[(shape[0], shape[2], shape[3], held.evidence(i), shape[5])] = i
    return index


@dataclass(slots=True)
class DecisionSink:
    """Collects the decisions of one derivation, in derivation order, and the next due instant.

    ``held`` are the traveller's decisions held before this derivation: a decision derived again
    with the same hashed fields takes the held one's id (no id hashing), and one derived again
    unchanged is recorded as its index in ``held`` (a :data:`Derived` int), not built again.
    """

    traveller_id: str
    policy: Policy
    watermark: datetime | None
    held: Held | None = None
    decisions: dict[str, Derived] = field(default_factory=dict)
    due: datetime | None = None
    _held: list[Derived] | None = None
    _index: dict[HeldKey, int] | None = None

    def hold(self) -> None:
        """Buffer the following decisions until :meth:`release` (to order them after another)."""
        self._held = []

    def unhold(self) -> list[Derived]:
        """Stop buffering; the buffered decisions, to be passed to :meth:`extend` later."""
        held, self._held = self._held or [], None
        return held

    def extend(self, decisions: Iterable[Derived]) -> None:
        """Record decisions built earlier."""
        held = self.held
        for d in decisions:
            if isinstance(d, int):
                assert held is not None  # an index is one of the held decisions
                self.decisions[held.decision_id(d)] = d
            else:
                self.decisions[d.decision_id] = d

    def extend_held(self, start: int, stop: int) -> None:
        """Record the held decisions ``start`` to ``stop`` as they are (by index)."""
        held = self.held
        assert held is not None
        decisions = self.decisions
        ids = held.ids
        if type(ids) is bytes:  # held.decision_id, inlined: this runs for every reused decision
            for i in range(start, stop):
                decisions[ids[i * DIGEST : (i + 1) * DIGEST].hex()] = i
        else:
            for i in range(start, stop):
                decisions[held.decision_id(i)] = i

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
        elif isinstance(decision, int):
            self.extend_held(decision, decision + 1)
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
    ) -> Derived:
        """The held decision (its index) if it has exactly these fields, else a new one (the
        held one's id reused if only the fields the id is not a hash of differ)."""
        severity = self.policy.severities[code]
        held = self.held
        i = (
            -1
            if held is None
            else self._held_match(held, code, jurisdiction, rule, evidence, deadline)
        )
        if held is not None and i >= 0:
            shape = held.shape(i)
            if (
                shape[1] is severity
                and shape[6] == overstay_seconds
                and held.rows[i * STRIDE + 3] == observed_at
                and shape[4] == detail
            ):
                return i
            did = held.decision_id(i)  # same hashed fields, same traveller: same id
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

    def _held_match(  # noqa: PLR0917 - the hashed fields of the decision
        self,
        held: Held | None,
        code: Code,
        jurisdiction: str | None,
        rule: str,
        evidence: tuple[str, ...],
        deadline: datetime | None,
    ) -> int:
        """The index of the last held decision with these hashed fields, or -1."""
        if held is None:
            return -1
        found = -1
        rows = held.rows
        if len(rows) > _SCAN_LIMIT * STRIDE:
            index = self._index
            if index is None:
                index = self._index = held_index(held)
            found = index.get((code, jurisdiction, rule, evidence, deadline), -1)
        else:  # a few held decisions: comparing is cheaper than indexing them
            first, rest = evidence_parts(evidence)
            for k in range(0, len(rows), STRIDE):
                shape: SharedShape = rows[k]  # type: ignore[assignment]
                if (
                    shape[0] is code
                    and rows[k + 1] == first
                    and rows[k + 2] == rest
                    and shape[5] == deadline
                    and shape[3] == rule
                    and shape[2] == jurisdiction
                ):
                    found = k // STRIDE  # the last one with these fields, as in the index
        if found >= 0 and not _same_instant_text(held.shape(found)[5], deadline):
            return -1  # equal instants in other zones hash differently (isoformat offset)
        return found


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
