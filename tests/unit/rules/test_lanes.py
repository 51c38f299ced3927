"""Smart (facial e-gate) and contactless lanes, DOMAIN.md sections 4.6 and 4.7.

Smart-lane crossings are judged at CN ports on the port's local date: the port must be enabled,
the traveller aged 14 or more (``birth_date`` needed), the latest consent before the crossing
granted, and the document eligible.
"""

from __future__ import annotations

from typing import Any

import pytest

from domain.decisions import Code
from tests.unit.rules.helpers import (
    code_set,
    consent,
    crossing,
    permit,
    preregistration,
    run,
)

SMART_FROM_2024_11_20 = ["CN-SHENZHEN-BAY", "CN-GONGBEI"]
SMART_FROM_2025_11_05 = [
    "SHA",
    "XMN",
    "CN-XIAMEN-WUTONG",
    "CN-PAZHOU",
    "CN-NANSHA",
    "CN-HUANGGANG",
    "CN-LUOHU",
    "CN-LIANTANG",
    "CN-FUTIAN",
    "CN-WENJINDU",
    "CN-HENGQIN",
    "CN-HZMB",
]
LANE_CODES = {
    Code.SMART_LANE_NOT_ENABLED,
    Code.SMART_LANE_INELIGIBLE,
    Code.SMART_LANE_NO_CONSENT,
    Code.CONTACTLESS_NOT_REGISTERED,
}


def smart(
    at: str,
    port: str = "CN-LUOHU",
    *,
    traveller: str = "T1",
    document: str = "MTP_HKMO",
    birth_date: str | None = "1990-01-01",
    direction: str = "ENTRY",
    **kw: Any,
) -> dict[str, Any]:
    """A Hong Kong resident's smart-lane crossing into CN (by default)."""
    if direction == "ENTRY":
        kw.setdefault("basis", "VISITOR")
    return crossing(
        traveller,
        port,
        direction,
        at,
        nationality="CHN",
        document=document,
        channel="SMART",
        birth_date=birth_date,
        **kw,
    )


def consented(traveller: str = "T1") -> dict[str, Any]:
    return consent(traveller, "2024-01-01T09:00:00+08:00", granted=True)


def lane_codes(result: Any) -> set[Code]:
    return code_set(result) & LANE_CODES


def test_the_module_lists_match_the_spec_counts() -> None:
    assert len(set(SMART_FROM_2025_11_05)) == 12


def test_an_eligible_smart_lane_crossing_raises_no_lane_decision() -> None:
    result = run([consented(), smart("2025-12-02T10:00:00+08:00")])
    assert lane_codes(result) == set()


# --- enabled ports ------------------------------------------------------------------------------


@pytest.mark.parametrize("port", SMART_FROM_2024_11_20)
def test_a_2024_smart_port_is_not_enabled_on_2024_11_19(port: str) -> None:
    result = run([consented(), smart("2024-11-19T23:59:59+08:00", port)])
    assert Code.SMART_LANE_NOT_ENABLED in code_set(result)


@pytest.mark.parametrize("port", SMART_FROM_2024_11_20)
def test_a_2024_smart_port_is_enabled_from_the_local_date_2024_11_20(port: str) -> None:
    # 2024-11-19T16:00Z is 2024-11-20 00:00 Beijing.
    result = run([consented(), smart("2024-11-19T16:00:00Z", port)])
    assert lane_codes(result) == set()


@pytest.mark.parametrize("port", SMART_FROM_2025_11_05)
def test_a_2025_smart_port_is_not_enabled_on_2025_11_04(port: str) -> None:
    result = run([consented(), smart("2025-11-04T23:59:59+08:00", port)])
    assert Code.SMART_LANE_NOT_ENABLED in code_set(result)


@pytest.mark.parametrize("port", SMART_FROM_2025_11_05)
def test_a_2025_smart_port_is_enabled_from_2025_11_05(port: str) -> None:
    result = run([consented(), smart("2025-11-05T00:00:00+08:00", port)])
    assert lane_codes(result) == set()


@pytest.mark.parametrize("port", ["CN-WEST-KOWLOON", "PEK", "CN-ZHONGSHAN", "URC"])
def test_a_port_never_enabled_for_smart_lanes_is_flagged(port: str) -> None:
    result = run([consented(), smart("2025-12-02T10:00:00+08:00", port)])
    assert Code.SMART_LANE_NOT_ENABLED in code_set(result)


def test_a_smart_exit_is_judged_like_an_entry() -> None:
    result = run(
        [
            consented(),
            smart("2025-12-02T10:00:00+08:00", "CN-LUOHU"),
            smart("2025-12-03T10:00:00+08:00", "CN-WEST-KOWLOON", direction="EXIT"),
        ]
    )
    assert Code.SMART_LANE_NOT_ENABLED in code_set(result)


def test_the_mainland_smart_lane_rules_do_not_apply_at_hong_kong_ports() -> None:
    result = run(
        [
            smart(
                "2025-12-02T10:00:00+08:00",
                "HK-LO-WU",
                document="HKID",
                birth_date=None,
                basis="RESIDENT",
            )
        ]
    )
    assert lane_codes(result) == set()


# --- age ----------------------------------------------------------------------------------------


def test_a_traveller_turning_14_on_the_local_date_is_old_enough() -> None:
    # 2025-12-01T20:30Z is 2025-12-02 in Shenzhen: the 14th birthday.
    result = run([consented(), smart("2025-12-01T20:30:00Z", birth_date="2011-12-02")])
    assert lane_codes(result) == set()


def test_a_traveller_one_local_day_short_of_14_is_ineligible() -> None:
    # 2025-12-01T15:59Z is 23:59 on 2025-12-01 in Shenzhen: still 13.
    result = run([consented(), smart("2025-12-01T15:59:00Z", birth_date="2011-12-02")])
    assert Code.SMART_LANE_INELIGIBLE in code_set(result)


def test_a_smart_lane_crossing_without_a_birth_date_is_ineligible() -> None:
    result = run([consented(), smart("2025-12-02T10:00:00+08:00", birth_date=None)])
    assert Code.SMART_LANE_INELIGIBLE in code_set(result)


# --- consent ------------------------------------------------------------------------------------


def test_a_smart_lane_crossing_without_any_consent_is_flagged() -> None:
    result = run([smart("2025-12-02T10:00:00+08:00")])
    assert Code.SMART_LANE_NO_CONSENT in code_set(result)


def test_a_withdrawn_consent_is_the_latest_record_and_counts() -> None:
    result = run(
        [
            consent("T1", "2025-01-01T09:00:00+08:00", granted=True),
            consent("T1", "2025-06-01T09:00:00+08:00", granted=False),
            smart("2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.SMART_LANE_NO_CONSENT in code_set(result)


def test_a_consent_granted_after_a_refusal_counts() -> None:
    result = run(
        [
            consent("T1", "2025-01-01T09:00:00+08:00", granted=False),
            consent("T1", "2025-06-01T09:00:00+08:00", granted=True),
            smart("2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.SMART_LANE_NO_CONSENT not in code_set(result)


def test_a_consent_recorded_after_the_crossing_does_not_cover_it() -> None:
    result = run(
        [
            smart("2025-12-02T10:00:00+08:00"),
            consent("T1", "2025-12-02T10:00:01+08:00", granted=True),
        ]
    )
    assert Code.SMART_LANE_NO_CONSENT in code_set(result)


def test_a_withdrawal_after_the_crossing_does_not_affect_it() -> None:
    result = run(
        [
            consented(),
            smart("2025-12-02T10:00:00+08:00"),
            consent("T1", "2025-12-03T10:00:00+08:00", granted=False),
        ]
    )
    assert Code.SMART_LANE_NO_CONSENT not in code_set(result)


def test_a_consent_that_arrives_late_but_predates_the_crossing_retracts_no_consent() -> None:
    result = run(
        [
            smart("2025-12-02T10:00:00+08:00"),
            consent("T1", "2025-12-01T10:00:00+08:00", granted=True),
        ]
    )
    assert Code.SMART_LANE_NO_CONSENT not in code_set(result)


def test_another_travellers_consent_does_not_count() -> None:
    result = run([consented("T2"), smart("2025-12-02T10:00:00+08:00")])
    assert Code.SMART_LANE_NO_CONSENT in code_set(result)


# --- documents ----------------------------------------------------------------------------------


@pytest.mark.parametrize("document", ["MTP_HKMO", "MTP_TW_5Y"])
def test_a_mainland_travel_permit_is_eligible(document: str) -> None:
    result = run([consented(), smart("2025-12-02T10:00:00+08:00", document=document)])
    assert Code.SMART_LANE_INELIGIBLE not in code_set(result)


@pytest.mark.parametrize("document", ["OFFICIAL_PASSPORT", "MTP_TW_SINGLE", "PASSPORT"])
def test_an_ineligible_document_is_flagged(document: str) -> None:
    result = run([consented(), smart("2025-12-02T10:00:00+08:00", document=document)])
    assert Code.SMART_LANE_INELIGIBLE in code_set(result)


def mainland_exit(permit_id: str | None) -> dict[str, Any]:
    """A Mainland resident leaving for Hong Kong through the Luohu smart lane on an EEP."""
    return smart(
        "2025-12-02T10:00:00+08:00",
        "CN-LUOHU",
        document="EEP",
        direction="EXIT",
        permit_id=permit_id,
        onward_to="HKG",
    )


def test_an_exit_entry_permit_with_a_valid_multiple_endorsement_is_eligible() -> None:
    result = run(
        [
            consented(),
            permit("T1", "E1", kind="VISITOR", destinations=["HK"], entries="MULTIPLE"),
            mainland_exit("E1"),
        ]
    )
    assert Code.SMART_LANE_INELIGIBLE not in code_set(result)


def test_an_exit_entry_permit_with_only_a_single_entry_endorsement_is_ineligible() -> None:
    result = run(
        [
            consented(),
            permit("T1", "E1", kind="VISITOR", destinations=["HK"], entries="SINGLE"),
            mainland_exit("E1"),
        ]
    )
    assert Code.SMART_LANE_INELIGIBLE in code_set(result)


def test_an_exit_entry_permit_with_no_endorsement_is_ineligible() -> None:
    result = run([consented(), mainland_exit(None)])
    assert Code.SMART_LANE_INELIGIBLE in code_set(result)


def test_an_exit_entry_permit_whose_multiple_endorsement_has_expired_is_ineligible() -> None:
    result = run(
        [
            consented(),
            permit(
                "T1",
                "E1",
                kind="VISITOR",
                destinations=["HK"],
                valid_from="2024-01-01",
                valid_until="2025-12-01",
            ),
            mainland_exit("E1"),
        ]
    )
    assert Code.SMART_LANE_INELIGIBLE in code_set(result)


def test_an_exit_entry_permit_with_a_multiple_endorsement_for_macao_only_is_ineligible() -> None:
    result = run(
        [
            consented(),
            permit("T1", "E1", kind="VISITOR", destinations=["MO"], entries="MULTIPLE"),
            mainland_exit("E1"),
        ]
    )
    assert Code.SMART_LANE_INELIGIBLE in code_set(result)


# --- contactless --------------------------------------------------------------------------------


def contactless(at: str, port: str = "CN-HETAO-BRIDGE", **kw: Any) -> dict[str, Any]:
    kw.setdefault("basis", "VISITOR")
    return crossing(
        "T1", port, "ENTRY", at, nationality="CHN", document="MTP_HKMO", channel="CONTACTLESS", **kw
    )


@pytest.mark.parametrize("port", ["CN-HETAO-BRIDGE", "HK-HETAO-BRIDGE"])
def test_a_contactless_crossing_with_a_valid_pre_registration_is_clean(port: str) -> None:
    result = run(
        [
            preregistration("T1", "2025-11-20T09:00:00+08:00", "2025-11-20", "2026-11-19"),
            contactless("2025-12-02T10:00:00+08:00", port),
        ]
    )
    assert lane_codes(result) == set()


def test_a_contactless_crossing_without_pre_registration_is_not_registered() -> None:
    result = run([contactless("2025-12-02T10:00:00+08:00")])
    assert Code.CONTACTLESS_NOT_REGISTERED in code_set(result)


def test_a_refused_pre_registration_does_not_count() -> None:
    result = run(
        [
            preregistration(
                "T1", "2025-11-20T09:00:00+08:00", "2025-11-20", "2026-11-19", granted=False
            ),
            contactless("2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.CONTACTLESS_NOT_REGISTERED in code_set(result)


def test_a_pre_registration_is_judged_on_the_local_date_of_the_crossing() -> None:
    # valid_until 2025-12-01; 2025-12-01T20:30Z is 2025-12-02 in Shenzhen -> expired.
    expired = run(
        [
            preregistration("T1", "2025-11-20T09:00:00+08:00", "2025-11-20", "2025-12-01"),
            contactless("2025-12-01T20:30:00Z"),
        ]
    )
    # 2025-12-01T15:30Z is 23:30 on 2025-12-01 -> still valid.
    last_day = run(
        [
            preregistration("T1", "2025-11-20T09:00:00+08:00", "2025-11-20", "2025-12-01"),
            contactless("2025-12-01T15:30:00Z"),
        ]
    )
    assert Code.CONTACTLESS_NOT_REGISTERED in code_set(expired)
    assert Code.CONTACTLESS_NOT_REGISTERED not in code_set(last_day)


def test_a_pre_registration_not_yet_valid_does_not_count() -> None:
    result = run(
        [
            preregistration("T1", "2025-11-20T09:00:00+08:00", "2025-12-03", "2026-12-02"),
            contactless("2025-12-02T10:00:00+08:00"),
        ]
    )
    assert Code.CONTACTLESS_NOT_REGISTERED in code_set(result)


def test_a_contactless_crossing_at_a_port_not_enabled_for_it_is_flagged() -> None:
    # The code is a policy setting (settings.contactless_not_enabled_code); the default policy
    # uses SMART_LANE_NOT_ENABLED.
    result = run(
        [
            preregistration("T1", "2025-11-20T09:00:00+08:00", "2025-11-20", "2026-11-19"),
            contactless("2025-12-02T10:00:00+08:00", "CN-LUOHU"),
        ]
    )
    assert Code.SMART_LANE_NOT_ENABLED in code_set(result)
