"""The compact form of a state's held decisions (domain/held.py) reads back what was stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from domain.decisions import Code, Decision, Severity
from domain.held import Held, compact, diff_held
from domain.state import TravellerState, new_state

AT = datetime(2025, 12, 1, 8, tzinfo=UTC)
PLUS8 = timezone(timedelta(hours=8))


def decision(did: str, evidence: tuple[str, ...], **fields: object) -> Decision:
    values: dict[str, object] = {
        "decision_id": did,
        "traveller_id": "T",
        "code": Code.STAY_OPENED,
        "severity": Severity.INFO,
        "jurisdiction": "HK",
        "rule": "VISITOR/policy:1",
        "evidence": evidence,
        "deadline": None,
        "overstay_seconds": None,
        "observed_at": AT,
        "detail": "entered",
    }
    values.update(fields)
    return Decision(**values)  # type: ignore[arg-type]


HEX = "0123456789abcdef01234567"
VARIED = (
    decision(HEX, ("e1",)),
    decision("89abcdef0123456789abcdef", ("e1", "e2"), code=Code.STAY_CLOSED),
    decision("fedcba9876543210fedcba98", ("e1", "e2", "e3"), deadline=AT.astimezone(PLUS8)),
    decision("00112233445566778899aabb", (), code=Code.POLICY_REVIEW, jurisdiction=None),
    decision("aabbccddeeff001122334455", ("e4",), overstay_seconds=3600, deadline=AT),
)


def test_engine_ids_are_kept_as_raw_bytes_and_read_back_exactly() -> None:
    ids, rows = compact(VARIED)
    assert ids == b"".join(bytes.fromhex(d.decision_id) for d in VARIED)
    held = Held("T", ids, rows)
    back = held.decisions()
    assert back == VARIED
    # the deadline's zone survives (an id hashes its ISO text)
    assert [d.deadline.tzinfo if d.deadline else None for d in back] == [
        d.deadline.tzinfo if d.deadline else None for d in VARIED
    ]
    assert [held.evidence_count(i) for i in range(len(held))] == [1, 2, 3, 0, 1]


def test_other_ids_are_kept_as_strings() -> None:
    for odd in ("d1", HEX.upper(), "0123456789abcdef 1234567", "zz23456789abcdef01234567"):
        decisions = (decision(odd, ("e1",)), VARIED[1])
        ids, rows = compact(decisions)
        assert ids == (odd, VARIED[1].decision_id)
        assert Held("T", ids, rows).decisions() == decisions


def test_a_state_reads_back_its_decisions() -> None:
    state = TravellerState("T", decisions=VARIED, due=AT)
    assert state.decisions == VARIED
    assert state == TravellerState("T", decisions=VARIED, due=AT)
    assert state != TravellerState("T", decisions=VARIED[:2], due=AT)
    assert not state.blank
    assert TravellerState("T").blank


def test_a_diff_keeps_unchanged_rows_and_emits_the_rest() -> None:
    held = TravellerState("T", decisions=VARIED[:2]).held()
    changed = decision(HEX, ("e1",), detail="entered again")
    current = {changed.decision_id: changed, VARIED[2].decision_id: VARIED[2]}
    ids, rows, emissions = diff_held(held, current)
    assert [(e.status.value, e.decision) for e in emissions] == [
        ("RETRACTED", VARIED[0]),
        ("RETRACTED", VARIED[1]),
        ("ISSUED", changed),
        ("ISSUED", VARIED[2]),
    ]
    assert new_state("T", (), ids, rows, None, None, ()).decisions == (changed, VARIED[2])
    same = {d.decision_id: d for d in VARIED[:2]}
    kept_ids, kept_rows, none = diff_held(held, same)
    assert none == [] and kept_ids is held.ids and kept_rows is held.rows
