"""Endorsement checks (DOMAIN.md 4.3): which permit, if any, supports a talent entry, and why not.

A ``TALENT`` entry needs a ``TALENT`` or ``HETAO_TALENT`` permit that was not revoked before the
entry, names the entry jurisdiction, is valid on the entry's local date, and was issued in a region
covered by its pilot on the issue date (the issue instant's date in ``permit_issue_tz``).
"""

from __future__ import annotations

from datetime import date

from domain.decisions import Code
from domain.events import CrossingRecorded, PermitIssued, PermitKind
from domain.policy import Policy, local_date
from domain.rules.common import DecisionSink, Facts

TALENT_KINDS = frozenset({PermitKind.TALENT, PermitKind.HETAO_TALENT})
PERMIT_RULE = "TALENT-PERMIT"


def talent_permit_problem(
    permit: PermitIssued,
    entry: CrossingRecorded,
    jurisdiction: str,
    day: date,
    facts: Facts,
    *,
    policy: Policy,
) -> str | None:
    """Why ``permit`` does not support this talent entry, or ``None`` if it does."""
    pid = permit.permit_id
    if permit.kind not in TALENT_KINDS:
        return f"permit {pid} is a {permit.kind.value} permit, not a talent endorsement"
    revocation = facts.revoked_before(pid, entry.occurred_at)
    if revocation is not None:
        return f"permit {pid} was revoked before the entry ({revocation.event_id})"
    if jurisdiction not in permit.destinations:
        return f"permit {pid} does not name {jurisdiction} among its destinations"
    if not permit.valid_from <= day <= permit.valid_until:
        return (
            f"permit {pid} is valid {permit.valid_from.isoformat()} to "
            f"{permit.valid_until.isoformat()}, not on {day.isoformat()}"
        )
    issue_day = local_date(permit.occurred_at, policy.settings.permit_issue_tz)
    if not policy.region_covered(permit.kind.value, permit.issued_in, issue_day):
        return (
            f"permit {pid} ({permit.kind.value}) was issued in {permit.issued_in} on "
            f"{issue_day.isoformat()}, not covered by the pilot then"
        )
    return None


def find_talent_permit(
    entry: CrossingRecorded, jurisdiction: str, day: date, facts: Facts, policy: Policy
) -> tuple[PermitIssued | None, str, tuple[str, ...]]:
    """The permit supporting a talent entry, or ``None`` with the reason and the evidence."""
    if entry.permit_id is not None:
        permit = facts.permits.get(entry.permit_id)
        if permit is None:
            return None, f"permit {entry.permit_id} is not known", ()
        problem = talent_permit_problem(permit, entry, jurisdiction, day, facts, policy=policy)
        if problem is None:
            return permit, "", (permit.event_id,)
        return None, problem, _evidence(permit, facts)
    candidates = sorted(
        (p for p in facts.permits.values() if p.kind in TALENT_KINDS),
        key=lambda p: (p.occurred_at, p.event_id),
    )
    if not candidates:
        return None, "no talent endorsement is known for the traveller", ()
    problems = []
    evidence: list[str] = []
    for permit in candidates:
        problem = talent_permit_problem(permit, entry, jurisdiction, day, facts, policy=policy)
        if problem is None:
            return permit, "", (permit.event_id,)
        problems.append(problem)
        evidence.extend(_evidence(permit, facts))
    return None, "; ".join(problems), tuple(evidence)


def _evidence(permit: PermitIssued, facts: Facts) -> tuple[str, ...]:
    revocation = facts.revocations.get(permit.permit_id)
    if revocation is None:
        return (permit.event_id,)
    return (permit.event_id, revocation.event_id)


def check_permit_consistency(permit: PermitIssued, sink: DecisionSink, policy: Policy) -> None:
    """A talent endorsement valid for more than the policy's maximum is inconsistent."""
    if permit.kind not in TALENT_KINDS:
        return
    years = policy.settings.permit_max_validity_years
    limit = _add_years(permit.valid_from, years)
    if permit.valid_until >= limit:
        sink.add(
            Code.PERMIT_INCONSISTENT,
            None,
            PERMIT_RULE,
            (permit.event_id,),
            permit.occurred_at,
            f"permit {permit.permit_id} is valid {permit.valid_from.isoformat()} to "
            f"{permit.valid_until.isoformat()}, more than {years} years",
        )


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February: the anniversary falls on 1 March
        return date(day.year + years, 3, 1)
