"""Shared plumbing of the rule modules: the decision collector and the traveller's other facts.

:class:`DecisionSink` builds :class:`Decision` values with deterministic ids (a hash of traveller,
code, jurisdiction, rule, evidence and deadline: never of arrival order or wall clock) and collects
the watermark thresholds at which the decision set could change. :class:`Facts` indexes permits,
revocations, consent and pre-registration records for the rules that consult them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import blake2b

from domain.decisions import Code, Decision
from domain.events import (
    BiometricConsentRecorded,
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
_TEXTS: dict[tuple[object, ...], str] = {}


def shared_text(key: tuple[object, ...], build: Callable[[], str]) -> str:
    """One string object per distinct ``key`` (built once): rule labels and decision details
    repeat across travellers and across re-derivations, and held decisions then share them."""
    text = _TEXTS.get(key)
    if text is None:
        if len(_TEXTS) >= _MEMO_LIMIT:
            _TEXTS.clear()
        text = _TEXTS[key] = build()
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


@dataclass(slots=True)
class DecisionSink:
    """Collects the decisions of one derivation, in derivation order, and the next due instant."""

    traveller_id: str
    policy: Policy
    watermark: datetime | None
    decisions: dict[str, Decision] = field(default_factory=dict)
    due: datetime | None = None
    _held: list[Decision] | None = None

    def hold(self) -> None:
        """Buffer the following decisions until :meth:`release` (to order them after another)."""
        self._held = []

    def unhold(self) -> list[Decision]:
        """Stop buffering; the buffered decisions, to be passed to :meth:`extend` later."""
        held, self._held = self._held or [], None
        return held

    def extend(self, decisions: list[Decision]) -> None:
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
        policy = self.policy
        traveller_id = self.traveller_id
        version = policy.version
        rule = _TEXTS.get((rule_label, version))
        if rule is None:
            rule = shared_text((rule_label, version), lambda: f"{rule_label}/policy:{version}")
        did = decision_id(traveller_id, code, jurisdiction, rule, evidence, deadline=deadline)
        decision = Decision(  # positional, in field order (the hottest constructor of the engine)
            did,
            traveller_id,
            code,
            policy.severities[code],
            jurisdiction,
            rule,
            evidence,
            deadline,
            overstay_seconds,
            observed_at,
            detail,
        )
        if self._held is not None:
            self._held.append(decision)
        else:
            self.decisions[did] = decision


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
        """Index ``events`` (already in history order)."""
        facts = cls()
        for e in events:
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
        return facts

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
