"""Business, visitor, visa and resident stays in HK and MO, DOMAIN.md section 4.4.

Same day-after counting as talent: entry on local date D with N days -> 00:00 local on D+N+1.
"""

from __future__ import annotations

from domain.decisions import Code
from tests.unit.rules.helpers import (
    code_set,
    entry,
    instant,
    leave,
    permit,
    run,
    the,
)


def hk_entry(traveller: str, at: str, basis: str, port: str = "HK-LO-WU", **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("nationality", "CHN")
    kw.setdefault("document", "EEP")
    return entry(traveller, port, at, basis, **kw)


def business_permit(traveller: str = "T1"):  # type: ignore[no-untyped-def]
    return permit(
        traveller, "B1", kind="BUSINESS", valid_from="2024-01-01", valid_until="2028-12-31"
    )


def test_a_business_entry_before_2024_05_06_gets_7_days() -> None:
    # D = 2024-05-05; 7 days -> D + 8 = 2024-05-13.
    result = run(
        [business_permit(), hk_entry("T1", "2024-05-05T23:59:59+08:00", "BUSINESS", permit_id="B1")]
    )
    assert the(result, Code.STAY_OPENED).deadline == instant("2024-05-13T00:00:00+08:00")


def test_a_business_entry_from_2024_05_06_gets_14_days() -> None:
    # D = 2024-05-06; 14 days -> D + 15 = 2024-05-21.
    result = run(
        [business_permit(), hk_entry("T1", "2024-05-06T00:00:00+08:00", "BUSINESS", permit_id="B1")]
    )
    assert the(result, Code.STAY_OPENED).deadline == instant("2024-05-21T00:00:00+08:00")


def test_the_business_rule_change_follows_the_hong_kong_local_date() -> None:
    # 2024-05-05T16:00Z is 2024-05-06 00:00 in Hong Kong -> 14 days -> 2024-05-21.
    result = run(
        [business_permit(), hk_entry("T1", "2024-05-05T16:00:00Z", "BUSINESS", permit_id="B1")]
    )
    assert the(result, Code.STAY_OPENED).deadline == instant("2024-05-21T00:00:00+08:00")


def test_a_business_stay_entered_under_7_days_keeps_7_days_after_the_change() -> None:
    # D = 2024-05-01 -> deadline 2024-05-09T00:00; exit 05-10 12:00 is 36 h late.
    result = run(
        [
            business_permit(),
            hk_entry("T1", "2024-05-01T12:00:00+08:00", "BUSINESS", permit_id="B1"),
            leave("T1", "HK-LO-WU", "2024-05-10T12:00:00+08:00"),
        ]
    )
    over = the(result, Code.OVERSTAY)
    assert over.deadline == instant("2024-05-09T00:00:00+08:00")
    assert over.overstay_seconds == 129_600


def test_a_business_entry_on_leap_february_28_counts_the_leap_day() -> None:
    # D = 2028-02-28; 14 days -> D + 15 = 2028-03-14.
    result = run(
        [business_permit(), hk_entry("T1", "2028-02-28T12:00:00+08:00", "BUSINESS", permit_id="B1")]
    )
    assert the(result, Code.STAY_OPENED).deadline == instant("2028-03-14T00:00:00+08:00")


def test_a_visitor_gets_7_days() -> None:
    # D = 2025-12-02 (Macao); D + 8 = 2025-12-10.
    result = run([hk_entry("T1", "2025-12-02T10:00:00+08:00", "VISITOR", "MO-BORDER-GATE")])
    opened = the(result, Code.STAY_OPENED)
    assert opened.deadline == instant("2025-12-10T00:00:00+08:00")
    assert opened.jurisdiction == "MO"


def test_a_visitor_leaving_at_the_deadline_closes_the_stay() -> None:
    result = run(
        [
            hk_entry("T1", "2025-12-02T10:00:00+08:00", "VISITOR"),
            leave("T1", "HK-LOK-MA-CHAU", "2025-12-09T16:00:00Z"),  # = 12-10 00:00 HK
        ]
    )
    assert Code.STAY_CLOSED in code_set(result)
    assert Code.OVERSTAY not in code_set(result)


def test_a_visitor_leaving_after_the_deadline_overstays() -> None:
    # deadline 2025-12-10T00:00+08:00; exit 2025-12-10T00:30+08:00 -> 1800 s.
    result = run(
        [
            hk_entry("T1", "2025-12-02T10:00:00+08:00", "VISITOR"),
            leave("T1", "HK-LOK-MA-CHAU", "2025-12-10T00:30:00+08:00"),
        ]
    )
    assert the(result, Code.OVERSTAY).overstay_seconds == 1800


def test_a_visa_stay_takes_its_deadline_from_permitted_until() -> None:
    result = run(
        [
            hk_entry(
                "T1",
                "2025-12-02T10:00:00+08:00",
                "VISA",
                nationality="IND",
                document="PASSPORT",
                permitted_until="2026-03-01T00:00:00+08:00",
            )
        ]
    )
    assert the(result, Code.STAY_OPENED).deadline == instant("2026-03-01T00:00:00+08:00")
    assert Code.PERMIT_MISMATCH not in code_set(result)


def test_a_visa_entry_without_permitted_until_is_flagged() -> None:
    # Spec: "VISA: permitted_until is required". The code is not named; the engine's documented
    # choice is recorded in docs/notes/engine-findings.md.
    result = run(
        [
            hk_entry(
                "T1", "2025-12-02T10:00:00+08:00", "VISA", nationality="IND", document="PASSPORT"
            )
        ]
    )
    assert Code.NO_VALID_PERMIT in code_set(result)


def test_a_resident_stay_has_no_deadline() -> None:
    result = run(
        [hk_entry("T1", "2025-12-02T10:00:00+08:00", "RESIDENT", document="HKID")],
        as_of="2035-01-01T00:00:00Z",
    )
    assert the(result, Code.STAY_OPENED).deadline is None
    assert Code.SUSPECTED_OVERSTAY not in code_set(result)


def test_a_resident_leaving_years_later_is_not_an_overstay() -> None:
    result = run(
        [
            hk_entry("T1", "2025-12-02T10:00:00+08:00", "RESIDENT", document="HKID"),
            leave("T1", "HK-LO-WU", "2030-06-01T10:00:00+08:00", document="HKID"),
        ]
    )
    assert Code.OVERSTAY not in code_set(result)
    assert Code.STAY_CLOSED in code_set(result)
