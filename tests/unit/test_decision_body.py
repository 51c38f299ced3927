"""Decision bodies assembled field by field are what fastavro writes, for any decision."""

from __future__ import annotations

import copy
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import fastavro
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.decisions import Code, Decision, Emission, Severity, Status, new_decision
from domain.engine import Engine
from producers.simulator import SimulationConfig, simulate
from schemas import codec
from schemas.decision_body import DecisionBodies
from schemas.mapping import decision_fields, emission_fields
from streams.policy_file import load_policy

EMISSION_SCHEMA = codec.current_schema(codec.DECISION_RECORD)
HELD_SCHEMA = next(
    f for f in codec.current_schema(codec.STATE_RECORD)["fields"] if f["name"] == "decisions"
)["type"]["items"]


def _fastavro(schema: Any, record: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema, record)
    return out.getvalue()


def _held_fields(d: Decision) -> dict[str, Any]:
    fields = decision_fields(d)
    del fields["traveller_id"]
    return fields


def _assert_as_fastavro(bodies: DecisionBodies, em: Emission) -> None:
    assert bodies.emission(em) == _fastavro(EMISSION_SCHEMA, emission_fields(em))
    assert bodies.held(em.decision) == _fastavro(HELD_SCHEMA, _held_fields(em.decision))


def test_every_simulated_emission_is_written_as_fastavro_writes_it() -> None:
    sim = simulate(
        SimulationConfig(
            start=date(2025, 12, 1), days=4, travellers=300, seed=13, violation_share=0.4
        )
    )
    engine = Engine(load_policy())
    emissions = [em for event in sim.events for em in engine.process(event)]
    assert {em.status for em in emissions} == set(Status)
    assert len({em.decision.code for em in emissions}) > 5
    for em in emissions:
        _assert_as_fastavro(codec.DECISION_BODIES, em)
        assert codec.decode_emission(codec.encode_emission(em)) == em


_text = st.text(min_size=1, max_size=300)
_instants = st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000))


@st.composite
def _emissions(draw: st.DrawFn) -> Emission:
    d = new_decision(
        draw(_text),
        draw(_text),
        draw(st.sampled_from(Code)),
        draw(st.sampled_from(Severity)),
        draw(st.none() | _text),
        draw(_text),
        tuple(draw(st.lists(_text, max_size=300))),
        draw(st.none() | _instants),
        draw(st.none() | st.integers(-(2**63), 2**63 - 1)),
        draw(_instants),
        draw(st.text(max_size=2000)),
    )
    return Emission(
        draw(st.sampled_from(Status)),
        d,
        draw(st.none() | _text),
        draw(st.none() | _instants),
        draw(st.none() | _text),
        draw(st.none() | _instants),
    )


@settings(max_examples=300, deadline=None)
@given(_emissions())
def test_any_decision_is_written_as_fastavro_writes_it(em: Emission) -> None:
    _assert_as_fastavro(codec.DECISION_BODIES, em)


def test_enum_indexes_follow_the_schema_not_the_python_enum() -> None:
    emission = copy.deepcopy(EMISSION_SCHEMA)
    held = copy.deepcopy(HELD_SCHEMA)
    for schema in (emission, held):
        for field in schema["fields"]:
            if isinstance(field["type"], dict) and field["type"]["type"] == "enum":
                field["type"]["symbols"].reverse()
    bodies = DecisionBodies(emission, held)
    at = datetime(2025, 12, 1, tzinfo=UTC)
    d = new_decision(
        "d1", "t1", Code.OVERSTAY, Severity.VIOLATION, "CN", "r", ("e1",), at, 5, at, "x"
    )
    em = Emission(Status.ISSUED, d)
    assert bodies.emission(em) == _fastavro(emission, emission_fields(em))
    assert bodies.held(d) == _fastavro(held, _held_fields(d))
    assert bodies.emission(em) != codec.DECISION_BODIES.emission(em)


@pytest.mark.parametrize(
    "change",
    [
        lambda s: s["fields"].pop(),  # a field removed
        lambda s: s["fields"].reverse(),  # reordered
        lambda s: s["fields"][0].update(type=["null", "string"]),  # a type changed
    ],
)
def test_a_schema_the_layout_does_not_match_is_refused(change: Any) -> None:
    emission = copy.deepcopy(EMISSION_SCHEMA)
    change(emission)
    with pytest.raises(ImportError, match="DecisionEmitted changed"):
        DecisionBodies(emission, HELD_SCHEMA)


def test_instants_are_written_to_the_millisecond_before_and_after_the_epoch() -> None:
    d = new_decision(
        "d",
        "t",
        Code.STAY_OPENED,
        Severity.INFO,
        None,
        "r",
        (),
        None,
        None,
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
        "",
    )
    em = Emission(
        Status.RETRACTED, d, "P", datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=40000)
    )
    _assert_as_fastavro(codec.DECISION_BODIES, em)
