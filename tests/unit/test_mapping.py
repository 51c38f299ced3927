"""The one record mapping: its fields are the records' columns, and each form reads back whole."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from domain.decisions import Decision, Emission, Status
from domain.event_data import parse_instant
from domain.events import format_instant
from schemas.codec import DECISION_RECORD, current_schema
from schemas.mapping import (
    Coordinates,
    decision_fields,
    decision_from_fields,
    emission_fields,
    emission_from_fields,
    emission_to_json_dict,
)
from schemas.state_schema import build_state_schema
from streams.store.base import COLUMNS, Table
from streams.store.rows import decision_row
from tests.samples import decision, overstay_emission

# An overstay whose deadline has milliseconds, and a decision without deadline.
DECISION = replace(
    overstay_emission("d-1", ("e-entry", "e-exit")).decision,
    deadline=datetime(2025, 11, 1, 16, 0, 0, 250_000, tzinfo=UTC),
)
OPEN = decision()


def test_the_emission_fields_are_the_decision_emitted_record_in_schema_order() -> None:
    names = [f["name"] for f in current_schema(DECISION_RECORD)["fields"]]
    assert list(emission_fields(Emission(Status.ISSUED, DECISION, "PVG"))) == names


def test_the_decision_fields_are_the_held_decision_of_the_state_record() -> None:
    fields = {f["name"]: f["type"] for f in build_state_schema()["fields"]}
    held = [f["name"] for f in fields["decisions"]["items"]["fields"]]
    assert [n for n in decision_fields(DECISION) if n != "traveller_id"] == held


def test_the_json_line_is_the_record_without_port_and_with_text_instants() -> None:
    line = emission_to_json_dict(Emission(Status.RETRACTED, DECISION, "PVG"))
    assert "port" not in line
    assert line["status"] == "RETRACTED" and line["code"] == "OVERSTAY"
    assert line["deadline"] == "2025-11-01T16:00:00.250Z"
    assert line["observed_at"] == format_instant(DECISION.observed_at)
    assert list(line)[:3] == ["decision_id", "status", "traveller_id"]


def test_the_decision_row_has_a_column_for_every_field_and_splits_instants() -> None:
    at = datetime(2026, 1, 1, 0, 0, 1, 7000, tzinfo=UTC)
    row = decision_row(Emission(Status.ISSUED, DECISION, None), _coords(), at, at)
    assert set(row) == set(COLUMNS[Table.DECISIONS])
    assert row["deadline"] == datetime(2025, 11, 1, 16, 0, tzinfo=UTC)
    assert row["deadline_ms"] == 250 and row["emitted_at_ms"] == 7
    open_row = decision_row(Emission(Status.ISSUED, OPEN, None), _coords(), at, at)
    assert open_row["deadline"] is None and open_row["deadline_ms"] is None


@pytest.mark.parametrize("held", [DECISION, OPEN])
def test_every_form_reads_back_into_the_same_decision(held: Decision) -> None:
    assert decision_from_fields(decision_fields(held)) == held
    text = decision_fields(held, format_instant)
    assert decision_from_fields(text, instant=parse_instant, text=str) == held
    fields = {k: v for k, v in decision_fields(held).items() if k != "traveller_id"}
    assert decision_from_fields(fields, traveller_id=held.traveller_id) == held
    emission = Emission(Status.RETRACTED, held, "HK-LO-WU")
    assert emission_from_fields(emission_fields(emission)) == emission


def test_an_unknown_code_or_a_missing_field_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown code"):
        decision_from_fields({**decision_fields(DECISION), "code": "NOPE"})
    fields = decision_fields(DECISION)
    del fields["rule"]
    with pytest.raises(KeyError):
        decision_from_fields(fields)


def _coords() -> Coordinates:
    return Coordinates("border.decisions.v1", 2, 40)
