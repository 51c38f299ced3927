"""The pure per-traveller fold (``apply_event``/``advance_watermark``/``next_due``) and the policy
settings DOMAIN.md leaves to policy (counting convention, contactless start, lane codes).

Expected instants are worked out by hand from DOMAIN.md; variant policies are built from the
default one with ``dataclasses.replace`` on its settings only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from domain.decisions import Code, Status
from domain.engine import advance_watermark, apply_event, next_due
from domain.policy import Counting
from tests.unit.rules.helpers import (
    code_set,
    crossing,
    default_policy,
    entry,
    instant,
    leave,
    permit,
    preregistration,
    run,
    the,
    to_event,
    twov_entry,
)

ENTRY_AT = "2025-12-02T10:00:00+08:00"  # TWOV PEK: deadline 2025-12-13T00:00+08:00 (D + 11)


def with_settings(**changes: Any) -> Any:
    policy = default_policy()
    return replace(policy, settings=replace(policy.settings, **changes))


def test_apply_event_opens_a_stay_and_next_due_is_its_deadline() -> None:
    event = to_event(twov_entry("T1", ENTRY_AT))
    state, emitted = apply_event(None, event, event.occurred_at, default_policy())
    assert [(e.status, e.decision.code) for e in emitted] == [(Status.ISSUED, Code.STAY_OPENED)]
    assert next_due(state) == instant("2025-12-13T00:00:00+08:00")


def test_advance_watermark_to_the_deadline_emits_nothing_and_past_it_a_suspicion() -> None:
    policy = default_policy()
    event = to_event(twov_entry("T1", ENTRY_AT))
    state, _ = apply_event(None, event, event.occurred_at, policy)
    same, at_deadline = advance_watermark(state, instant("2025-12-13T00:00:00+08:00"), policy)
    assert at_deadline == []
    _, past = advance_watermark(same, instant("2025-12-13T00:00:01+08:00"), policy)
    assert [(e.status, e.decision.code) for e in past] == [(Status.ISSUED, Code.SUSPECTED_OVERSTAY)]


def test_an_exit_within_the_limit_leaves_nothing_due_for_that_stay() -> None:
    policy = default_policy()
    state = None
    for item in [twov_entry("T1", ENTRY_AT), leave("T1", "PEK", "2025-12-10T10:00:00+08:00")]:
        event = to_event(item)
        state, _ = apply_event(state, event, event.occurred_at, policy)
    assert state is not None
    _, later = advance_watermark(state, instant("2026-01-01T00:00:00Z"), policy)
    assert Code.SUSPECTED_OVERSTAY not in {e.decision.code for e in later}


def test_apply_event_is_a_pure_function_of_its_inputs() -> None:
    policy = default_policy()
    event = to_event(twov_entry("T1", ENTRY_AT, event_id="E1"))
    first = apply_event(None, event, event.occurred_at, policy)
    second = apply_event(None, event, event.occurred_at, policy)
    assert first == second


def test_the_entry_day_as_day_1_convention_is_a_setting() -> None:
    # Talent 30 days from D = 2025-12-02: day-after -> D + 31 = 2026-01-02; entry day as day 1
    # -> D + 30 = 2026-01-01.
    events = [
        permit("T1", "P1", destinations=["HK"]),
        entry(
            "T1",
            "HK-LO-WU",
            ENTRY_AT,
            "TALENT",
            nationality="CHN",
            document="EEP",
            permit_id="P1",
        ),
    ]
    default = run(events)
    alternative = run(events, policy=with_settings(counting=Counting.ENTRY_DAY_IS_DAY_1))
    assert the(default, Code.STAY_OPENED).deadline == instant("2026-01-02T00:00:00+08:00")
    assert the(alternative, Code.STAY_OPENED).deadline == instant("2026-01-01T00:00:00+08:00")


def contactless_crossing(at: str) -> list[dict[str, Any]]:
    return [
        preregistration("T1", "2025-11-01T09:00:00+08:00", "2025-11-01", "2026-10-31"),
        crossing(
            "T1",
            "CN-HETAO-BRIDGE",
            "ENTRY",
            at,
            basis="VISITOR",
            nationality="CHN",
            document="MTP_HKMO",
            channel="CONTACTLESS",
        ),
    ]


def test_the_contactless_start_date_is_a_policy_setting() -> None:
    later_start = with_settings(hetao_contactless_from=date(2026, 1, 1))
    before = run(contactless_crossing("2025-12-31T23:59:00+08:00"), policy=later_start)
    on_the_day = run(contactless_crossing("2026-01-01T00:00:00+08:00"), policy=later_start)
    assert Code.SMART_LANE_NOT_ENABLED in code_set(before)
    assert Code.SMART_LANE_NOT_ENABLED not in code_set(on_the_day)
    assert Code.CONTACTLESS_NOT_REGISTERED not in code_set(on_the_day)


def test_the_code_for_a_contactless_port_not_enabled_is_a_policy_setting() -> None:
    policy = with_settings(
        hetao_contactless_from=date(2026, 1, 1),
        contactless_not_enabled_code=Code.CONTACTLESS_NOT_REGISTERED,
    )
    result = run(contactless_crossing("2025-12-02T10:00:00+08:00"), policy=policy)
    assert Code.CONTACTLESS_NOT_REGISTERED in code_set(result)
    assert Code.SMART_LANE_NOT_ENABLED not in code_set(result)


def test_a_stay_decision_names_the_policy_version() -> None:
    result = run([twov_entry("T1", ENTRY_AT)])
    rule = the(result, Code.STAY_OPENED).rule
    assert default_policy().version in rule
