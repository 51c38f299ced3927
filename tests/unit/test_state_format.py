"""The worker's table formats: Avro states (fast writer = fastavro), clocks, previous JSON."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from base.errors import InvalidEventError
from domain.clock import EventClock
from domain.engine import Engine
from domain.events import CrossingRecorded, GateHeartbeat, event_to_mapping
from domain.state import FACTS, TravellerState, with_state
from producers.simulator import SimulationConfig, simulate
from schemas import codec
from schemas.avro_binary import write_long
from schemas.codec import DecodeError, encode_record
from schemas.state_schema import SCHEMA_DIR, render
from streams.policy_file import load_policy
from streams.worker.input_decoder import InputDecoder
from streams.worker.state_format import (
    decode_applied,
    decode_clock,
    decode_state,
    encode_clock,
    encode_state,
    is_previous_format,
    keep_input_body,
    state_record,
)
from streams.worker.state_json import state_to_dict


@pytest.fixture(scope="module")
def states() -> list[TravellerState]:
    sim = simulate(
        SimulationConfig(
            start=date(2025, 12, 1), days=3, travellers=400, seed=11, violation_share=0.3
        )
    )
    engine = Engine(load_policy())
    for event in sim.events:
        engine.process(event)
    seen: list[TravellerState] = []
    for tid in engine.travellers():
        state = engine.state(tid)
        assert state is not None
        seen.append(state)
    assert any(s.decisions for s in seen) and any(len(s.events) > 3 for s in seen)
    # Pruning marks what it forgot per jurisdiction; a few simulated days never get there.
    marks = (("HK", datetime(2025, 11, 1, tzinfo=UTC)), (FACTS, datetime(2025, 10, 2, tzinfo=UTC)))
    seen.extend(with_state(s, forgotten=marks[: 1 + i % 2]) for i, s in enumerate(seen[:50]))
    seen.append(TravellerState("only-forgotten", forgotten=marks))
    return seen


def test_states_round_trip_exactly(states: list[TravellerState]) -> None:
    for state in states:
        assert decode_state(encode_state(state)) == state


def test_the_fast_writer_writes_what_fastavro_writes(states: list[TravellerState]) -> None:
    for state in states:
        assert encode_state(state) == encode_record("TravellerState", state_record(state))
        assert encode_state(state) == encode_state(state), "cached bodies give the same bytes"


def test_a_state_carries_the_schema_fingerprint(states: list[TravellerState]) -> None:
    assert codec.record_name(encode_state(states[0])) == "TravellerState"


def test_states_written_in_the_previous_json_format_are_read(
    states: list[TravellerState],
) -> None:
    for state in states[:200]:
        old = json.dumps(state_to_dict(state), separators=(",", ":")).encode()
        assert is_previous_format(old) and not is_previous_format(encode_state(state))
        assert decode_state(old) == state


def test_a_json_state_holding_another_travellers_decision_is_an_invalid_state(
    states: list[TravellerState],
) -> None:
    state = next(s for s in states if s.decisions)
    old = state_to_dict(state)
    old["traveller_id"] = "someone-else"
    with pytest.raises(InvalidEventError, match="decisions"):
        decode_state(json.dumps(old).encode())


def test_the_binary_state_is_smaller_than_the_json_one(states: list[TravellerState]) -> None:
    avro = sum(len(encode_state(s)) for s in states)
    old = sum(len(json.dumps(state_to_dict(s), separators=(",", ":"))) for s in states)
    assert avro * 2 < old, (avro, old)


@pytest.mark.parametrize("raw", [b"", b"\x00\x01", b"\xc3\x01" + b"\x00" * 8, b"garbage"])
def test_bytes_that_are_not_a_state_are_a_decode_error(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_state(raw)


def test_a_state_of_another_record_kind_is_refused() -> None:
    emission_like = codec.encode_dead_letter(
        codec.DeadLetter(b"x", "r", "t", 0, 0, None, datetime(2026, 1, 1, tzinfo=UTC))
    )
    with pytest.raises(DecodeError, match="expected a TravellerState"):
        decode_state(emission_like)


def test_the_state_schema_file_embeds_the_current_event_and_decision_schemas() -> None:
    # Fails after an event or decision schema change until the state schema is regenerated
    # (python -m schemas.state_schema > schemas/TravellerState.avsc) and added to history/.
    assert (SCHEMA_DIR / "TravellerState.avsc").read_text() == render()


@pytest.mark.parametrize("n", [0, 1, -1, 63, 64, -65, 300, 2**40, -(2**62)])
def test_avro_longs_match_fastavro(n: int) -> None:
    import io

    import fastavro

    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema({"type": "long"}), n)
    assert write_long(n) == out.getvalue()


def test_clocks_round_trip() -> None:
    for clock in (
        EventClock(),
        EventClock(datetime(2025, 12, 1, tzinfo=UTC), None),
        EventClock(datetime(2025, 12, 1, 1, tzinfo=UTC), datetime(2025, 12, 1, tzinfo=UTC)),
    ):
        assert decode_clock(encode_clock(clock)) == clock
        assert decode_applied(encode_clock(clock)) == {}, "no marks recorded"
        applied = {"border.crossings.v1": 1234, "border.permits.v1": 0, "a-b_c.d": 2**62}
        marked = encode_clock(clock, applied)
        assert (decode_clock(marked), decode_applied(marked)) == (clock, applied)


def test_states_of_events_read_from_messages_store_their_bodies_as_fastavro_writes_them() -> None:
    """The worker keeps an input message's body as its event's state body (no second write)."""
    sim = simulate(
        SimulationConfig(
            start=date(2025, 12, 1), days=2, travellers=150, seed=5, violation_share=0.3
        )
    )
    decoder = InputDecoder()
    engine = Engine(load_policy())
    kept = 0
    for event in sim.events:
        message = codec.encode_event(event)
        decoded = decoder.decode(message)
        if not isinstance(decoded, GateHeartbeat):
            kept += keep_input_body(decoded, message)  # again: what the decoder already did
        engine.process(decoded)
    assert kept == sum(not isinstance(e, GateHeartbeat) for e in sim.events) > 0
    for tid in engine.travellers():
        state = engine.state(tid)
        assert state is not None
        assert encode_state(state) == encode_record("TravellerState", state_record(state))
        assert decode_state(encode_state(state)) == state


def test_a_body_an_older_schema_wrote_is_not_kept_for_the_state() -> None:
    sim = simulate(SimulationConfig(start=date(2025, 12, 1), days=1, travellers=5, seed=3))
    event = next(e for e in sim.events if isinstance(e, CrossingRecorded))
    (_, oldest), *_ = codec.schema_history("CrossingRecorded")
    known = {f["name"] for f in oldest["fields"]}
    fields = {k: v for k, v in event_to_mapping(event).items() if k in known}
    old_message = codec.encode_with_writer(oldest, fields)
    decoded = codec.decode_event(old_message)
    assert not keep_input_body(decoded, old_message)
    assert keep_input_body(decoded, codec.encode_event(decoded))


def test_a_body_with_an_over_long_varint_is_kept_and_reads_back_to_the_same_event() -> None:
    sim = simulate(SimulationConfig(start=date(2025, 12, 1), days=1, travellers=5, seed=3))
    event = next(e for e in sim.events if isinstance(e, CrossingRecorded))
    message = codec.encode_event(event)
    header, body = message[: codec.HEADER_SIZE], message[codec.HEADER_SIZE :]
    assert body[0] < 0x80  # the event id's length fits one byte: write it in two instead
    stretched = header + bytes([body[0] | 0x80, 0]) + body[1:]
    decoded = codec.decode_event(stretched)
    assert decoded == event
    assert keep_input_body(decoded, stretched)
    state = TravellerState(event.traveller_id, events=(decoded,))
    stored = encode_state(state)
    assert stretched[codec.HEADER_SIZE :] in stored  # the body as it came, not rewritten
    assert decode_state(stored) == state
