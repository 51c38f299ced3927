"""The shared field checks: one check, one wording, whichever validator (event or policy) fails."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from base.errors import InvalidEventError, PolicyError
from base.settings import PROJECT_ROOT
from domain.decisions import Severity
from domain.event_data import event_from_mapping
from domain.fields import (
    is_alpha3,
    require_alpha3,
    require_date,
    require_int,
    require_member,
    require_text,
)
from domain.policy_data import policy_from_mapping


def _reason(check: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(InvalidEventError) as info:
        check(*args, InvalidEventError, **kwargs)
    return info.value.reason


def test_each_check_returns_the_typed_value_or_names_the_field() -> None:
    assert require_text(" x ", "f", InvalidEventError) == " x "
    assert require_text("  ", "f", InvalidEventError, blank_ok=True) == "  "
    assert _reason(require_text, "  ", "f") == "expected a non-empty string"
    assert require_int(0, "f", InvalidEventError, minimum=0) == 0
    assert _reason(require_int, 0, "f", minimum=1) == "expected a positive integer, got 0"
    assert _reason(require_int, -1, "f", minimum=0) == "expected a non-negative integer, got -1"
    assert _reason(require_int, True, "f", minimum=0) == "expected an integer, got True"
    assert require_member(Severity, "INFO", "f", InvalidEventError) is Severity.INFO
    assert _reason(require_member, Severity, 3, "f") == "expected a string, got int"
    assert "'NOPE' is not one of VIOLATION" in _reason(require_member, Severity, "NOPE", "f")
    assert require_date("2025-12-01", "f", InvalidEventError) == date(2025, 12, 1)
    assert _reason(require_date, datetime(2025, 1, 1, tzinfo=UTC), "f").endswith("a timestamp")
    assert [is_alpha3(v) for v in ("CHN", "chn", "CH", "CH1", 3)] == [True] + [False] * 4
    assert _reason(require_alpha3, "chn", "f").startswith("expected an ISO 3166-1 alpha-3 code")


def test_an_event_and_the_policy_word_the_same_failure_alike() -> None:
    with pytest.raises(InvalidEventError) as event_error:
        event_from_mapping(
            {
                "type": "PermitIssued",
                "event_id": "e",
                "traveller_id": "t",
                "occurred_at": "2025-12-01T00:00:00Z",
                "permit_id": "p",
                "kind": "NOPE",
            }
        )
    assert event_error.value.field == "kind"
    with pytest.raises(PolicyError) as policy_error:
        document = json.loads((PROJECT_ROOT / "streams/policy/default.json").read_text())
        document["settings"]["counting"] = "NOPE"
        policy_from_mapping(document)
    assert str(policy_error.value).startswith("settings.counting: 'NOPE' is not one of ")
    assert event_error.value.reason.startswith("'NOPE' is not one of ")
