"""Unit tests of the Avro schemas and the codec: round trips, framing errors, compatibility."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import itertools
import json
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

from base.errors import InvalidEventError, LedgerError
from base.settings import Settings
from domain.decisions import Code, Decision, Emission, Severity, Status
from domain.events import (
    EVENT_TYPES,
    Basis,
    BiometricConsentRecorded,
    Channel,
    CrossingRecorded,
    Direction,
    Document,
    Entries,
    Event,
    GateHeartbeat,
    PermitCategory,
    PermitIssued,
    PermitKind,
    PermitRevoked,
    PreRegistrationRecorded,
    StayExtended,
    Zone,
)
from domain.native import NATIVE
from schemas import codec
from schemas.codec import DeadLetter, DecodeError
from schemas.mapping import emission_to_json_dict

SCHEMA_DIR = Path(codec.__file__).resolve().parent
T0 = datetime(2025, 12, 1, 20, 30, 15, 123000, tzinfo=UTC)

SAMPLE_EVENTS: list[Event] = [
    CrossingRecorded(
        event_id="e-cross",
        traveller_id="t-1",
        occurred_at=T0,
        port="PVG",
        direction=Direction.ENTRY,
        nationality="FRA",
        document=Document.PASSPORT,
        channel=Channel.COUNTER,
        basis=Basis.TWOV,
        permit_id="p-9",
        arrived_from="FRA",
        onward_to="JPN",
        onward_departure_at=datetime(2025, 12, 5, 9, 0, tzinfo=UTC),
        permitted_until=datetime(2025, 12, 11, 16, 0, tzinfo=UTC),
        birth_date=date(1990, 2, 28),
        gate_id="G7",
        corrects="e-old",
    ),
    CrossingRecorded(
        event_id="e-exit",
        traveller_id="t-1",
        occurred_at=T0,
        port="CN-LUOHU",
        direction=Direction.EXIT,
        nationality="CHN",
        document=Document.EEP,
        channel=Channel.SMART,
    ),
    PermitIssued(
        event_id="e-permit",
        traveller_id="t-2",
        occurred_at=T0,
        permit_id="p-1",
        kind=PermitKind.HETAO_TALENT,
        issued_in="CN-GD-SZ",
        destinations=("HK", "MO"),
        valid_from=date(2025, 11, 5),
        valid_until=date(2030, 11, 4),
        entries=Entries.MULTIPLE,
        category=PermitCategory.RESEARCH,
        max_stay_days=30,
    ),
    PermitRevoked(event_id="e-rev", traveller_id="t-2", occurred_at=T0, permit_id="p-1"),
    StayExtended(
        event_id="e-ext",
        traveller_id="t-3",
        occurred_at=T0,
        jurisdiction="HK",
        permitted_until=datetime(2025, 12, 20, 16, 0, tzinfo=UTC),
    ),
    BiometricConsentRecorded(event_id="e-bio", traveller_id="t-4", occurred_at=T0, granted=True),
    PreRegistrationRecorded(
        event_id="e-pre",
        traveller_id="t-5",
        occurred_at=T0,
        zone=Zone.HETAO,
        valid_from=date(2025, 12, 1),
        valid_until=date(2026, 11, 30),
        granted=False,
    ),
    GateHeartbeat(event_id="e-hb", occurred_at=T0, port="HK-LO-WU"),
]

SAMPLE_EMISSION = Emission(
    Status.RETRACTED,
    Decision(
        decision_id="d-1",
        traveller_id="t-1",
        code=Code.SUSPECTED_OVERSTAY,
        severity=Severity.VIOLATION,
        jurisdiction="CN",
        rule="TWOV/2024-12-17",
        evidence=("e-cross", "e-hb"),
        deadline=datetime(2025, 12, 12, 16, 0, tzinfo=UTC),
        overstay_seconds=3600,
        observed_at=T0,
        detail="no exit known",
    ),
)

SAMPLE_DEAD_LETTER = DeadLetter(
    raw=b"\xc3\x01garbage",
    reason="unknown writer schema fingerprint",
    source_topic="border.crossings.v1",
    source_partition=3,
    source_offset=2**40,
    source_timestamp=T0,
    failed_at=datetime(2025, 12, 2, tzinfo=UTC),
)

# Records as earlier schema versions wrote them, and the event the current reader must decode.
OLD_WRITER_SAMPLES: dict[tuple[str, int], tuple[dict[str, Any], Event]] = {
    ("CrossingRecorded", 1): (
        {
            "event_id": "e-v1",
            "traveller_id": "t-1",
            "occurred_at": T0,
            "port": "CN-FUTIAN",
            "direction": "ENTRY",
            "nationality": "CHN",
            "document": "EEP",
            "channel": "COUNTER",
            "basis": "BUSINESS",
            "permit_id": "p-7",
            "arrived_from": None,
            "onward_to": None,
            "onward_departure_at": None,
            "permitted_until": None,
            "birth_date": date(1980, 1, 1),
        },
        CrossingRecorded(
            event_id="e-v1",
            traveller_id="t-1",
            occurred_at=T0,
            port="CN-FUTIAN",
            direction=Direction.ENTRY,
            nationality="CHN",
            document=Document.EEP,
            channel=Channel.COUNTER,
            basis=Basis.BUSINESS,
            permit_id="p-7",
            birth_date=date(1980, 1, 1),
        ),
    ),
    ("PermitIssued", 1): (
        {
            "event_id": "e-pv1",
            "traveller_id": "t-2",
            "occurred_at": T0,
            "permit_id": "p-1",
            "kind": "TALENT",
            "issued_in": "CN-BJ",
            "destinations": ["HK"],
            "valid_from": date(2024, 6, 1),
            "valid_until": date(2026, 5, 31),
            "entries": "MULTIPLE",
        },
        PermitIssued(
            event_id="e-pv1",
            traveller_id="t-2",
            occurred_at=T0,
            permit_id="p-1",
            kind=PermitKind.TALENT,
            issued_in="CN-BJ",
            destinations=("HK",),
            valid_from=date(2024, 6, 1),
            valid_until=date(2026, 5, 31),
            entries=Entries.MULTIPLE,
        ),
    ),
}


def _avro(schema: dict[str, Any]) -> avro.schema.Schema:
    return avro.schema.parse(json.dumps(schema))


def _raw(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _history(name: str) -> list[Path]:
    paths = sorted(
        (SCHEMA_DIR / "history").glob(f"{name}.v*.avsc"),
        key=lambda p: int(p.name.split(".v")[1].split(".")[0]),
    )
    assert paths, f"no history for {name}"
    return paths


# --- schema files --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", codec.RECORD_NAMES)
def test_each_schema_file_is_a_record_named_after_its_event(name: str) -> None:
    schema = _raw(SCHEMA_DIR / f"{name}.avsc")
    assert schema["type"] == "record"
    assert schema["name"] == name
    assert schema["namespace"] == "border.ledger"


@pytest.mark.parametrize("name", codec.RECORD_NAMES)
def test_current_schema_is_the_latest_history_entry(name: str) -> None:
    assert _raw(SCHEMA_DIR / f"{name}.avsc") == _raw(_history(name)[-1])


def test_every_event_type_of_the_domain_has_a_schema() -> None:
    assert set(EVENT_TYPES) <= set(codec.RECORD_NAMES)


@pytest.mark.parametrize("name", codec.RECORD_NAMES)
def test_optional_fields_are_null_unions_defaulting_to_null(name: str) -> None:
    for field in _raw(SCHEMA_DIR / f"{name}.avsc")["fields"]:
        if isinstance(field["type"], list):
            assert field["type"][0] == "null", field["name"]
            assert "default" in field and field["default"] is None, field["name"]


def test_fingerprint_matches_the_avro_reference_implementation() -> None:
    # avro-python's canonical form keeps {"type": "long"} for logical types, unlike Java and the
    # spec, so compare on a schema without logical types.
    schema = {
        "type": "record",
        "name": "Probe",
        "namespace": "border.ledger",
        "doc": "docs are not part of the canonical form",
        "fields": [
            {"name": "a", "type": "string"},
            {"name": "b", "type": ["null", "long"], "default": None},
            {"name": "c", "type": {"type": "enum", "name": "E", "symbols": ["X", "Y"]}},
        ],
    }
    assert codec.fingerprint(schema) == _avro(schema).fingerprint("CRC-64-AVRO")
    assert codec.fingerprint(json.dumps(schema)) == codec.fingerprint(schema)
    assert len(codec.fingerprint(schema)) == 8


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("event", SAMPLE_EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips_through_the_codec(event: Event) -> None:
    data = codec.encode_event(event)
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == codec.fingerprint(codec.current_schema(type(event).__name__))
    assert codec.decode_event(data) == event


def test_the_samples_cover_every_event_type() -> None:
    assert {type(e).__name__ for e in SAMPLE_EVENTS} == set(EVENT_TYPES)


def test_encoding_is_deterministic() -> None:
    assert [codec.encode_event(e) for e in SAMPLE_EVENTS] == [
        codec.encode_event(e) for e in SAMPLE_EVENTS
    ]


def test_decoded_instants_are_utc_and_millisecond_precise() -> None:
    decoded = codec.decode_event(codec.encode_event(SAMPLE_EVENTS[0]))
    assert decoded.occurred_at.utcoffset() is not None
    assert decoded.occurred_at.microsecond == 123000


def test_an_emission_round_trips() -> None:
    data = codec.encode_emission(SAMPLE_EMISSION)
    assert codec.decode_emission(data) == SAMPLE_EMISSION


def test_an_emission_keeps_its_port_and_its_instant() -> None:
    at = datetime(2025, 12, 2, 2, 0, 0, 123000, tzinfo=UTC)
    em = dataclasses.replace(SAMPLE_EMISSION, port="CN-LUOHU", port_at=at)
    assert codec.decode_emission(codec.encode_emission(em)) == em
    plain = codec.decode_emission(codec.encode_emission(SAMPLE_EMISSION))
    assert plain.port is None and plain.port_at is None


def test_an_emission_with_a_naive_port_instant_is_refused() -> None:
    naive = dataclasses.replace(SAMPLE_EMISSION, port="CN-LUOHU", port_at=datetime(2025, 12, 2))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(InvalidEventError, match="port_at"):
        codec.encode_emission(naive)


def _older_record(**places: object) -> dict[str, object]:
    """SAMPLE_EMISSION as an older writer's record (instants as Avro takes them), with
    ``places`` for the place fields that writer had."""
    d = SAMPLE_EMISSION.decision
    return {
        **emission_to_json_dict(SAMPLE_EMISSION),
        "deadline": d.deadline,
        "observed_at": d.observed_at,
        **places,
    }


def test_an_emission_written_before_the_port_decodes_without_one() -> None:
    record = _older_record()
    for version in (1, 2):
        writer = dict(codec.schema_history("DecisionEmitted"))[version]
        assert "port" not in [f["name"] for f in writer["fields"]]
        decoded = codec.decode_emission(codec.encode_with_writer(writer, record))
        assert decoded == SAMPLE_EMISSION and decoded.port is None


def test_an_emission_written_before_the_port_instant_decodes_without_one() -> None:
    record = _older_record(port="CN-LUOHU")
    writer = dict(codec.schema_history("DecisionEmitted"))[3]
    assert "port_at" not in [f["name"] for f in writer["fields"]]
    decoded = codec.decode_emission(codec.encode_with_writer(writer, record))
    assert decoded == dataclasses.replace(SAMPLE_EMISSION, port="CN-LUOHU")
    assert decoded.port_at is None


def test_an_emission_keeps_the_place_of_its_last_evidence() -> None:
    at = datetime(2025, 12, 9, 3, 0, 0, 456000, tzinfo=UTC)
    em = dataclasses.replace(SAMPLE_EMISSION, last_port="CN-LUOHU", last_at=at)
    assert codec.decode_emission(codec.encode_emission(em)) == em
    with pytest.raises(InvalidEventError, match="last_at"):
        codec.encode_emission(dataclasses.replace(em, last_at=at.replace(tzinfo=None)))


def test_an_emission_written_before_the_last_place_decodes_without_one() -> None:
    record = _older_record(port="CN-LUOHU", port_at=SAMPLE_EMISSION.decision.observed_at)
    writer = dict(codec.schema_history("DecisionEmitted"))[4]
    assert "last_port" not in [f["name"] for f in writer["fields"]]
    decoded = codec.decode_emission(codec.encode_with_writer(writer, record))
    assert (decoded.port, decoded.last_port, decoded.last_at) == ("CN-LUOHU", None, None)


def test_an_emission_without_deadline_or_jurisdiction_round_trips() -> None:
    d = SAMPLE_EMISSION.decision
    em = Emission(
        Status.ISSUED,
        Decision(
            decision_id=d.decision_id,
            traveller_id=d.traveller_id,
            code=Code.EXIT_WITHOUT_ENTRY,
            severity=Severity.REVIEW,
            jurisdiction=None,
            rule="sequence",
            evidence=(),
            deadline=None,
            overstay_seconds=None,
            observed_at=T0,
            detail="",
        ),
    )
    assert codec.decode_emission(codec.encode_emission(em)) == em


def test_a_dead_letter_round_trips_with_its_raw_bytes() -> None:
    data = codec.encode_dead_letter(SAMPLE_DEAD_LETTER)
    assert codec.decode_dead_letter(data) == SAMPLE_DEAD_LETTER


def test_a_dead_letter_without_source_timestamp_round_trips() -> None:
    letter = DeadLetter(b"", "empty", "t", 0, 0, None, T0)
    assert codec.decode_dead_letter(codec.encode_dead_letter(letter)) == letter


def test_decoding_one_record_kind_as_another_is_refused() -> None:
    event_bytes = codec.encode_event(SAMPLE_EVENTS[0])
    with pytest.raises(DecodeError, match="DecisionEmitted"):
        codec.decode_emission(event_bytes)
    with pytest.raises(DecodeError, match="DeadLetter"):
        codec.decode_dead_letter(event_bytes)
    with pytest.raises(DecodeError, match="not an event"):
        codec.decode_event(codec.encode_emission(SAMPLE_EMISSION))


# --- invalid values are rejected naming the field ------------------------------------------------


def test_a_naive_datetime_is_rejected_naming_the_field() -> None:
    event = GateHeartbeat(event_id="e", occurred_at=datetime(2025, 12, 1, 8, 0), port="PVG")  # noqa: DTZ001
    with pytest.raises(InvalidEventError) as info:
        codec.encode_event(event)
    assert info.value.field == "occurred_at"


def test_a_naive_optional_datetime_is_rejected_naming_the_field() -> None:
    event = StayExtended(
        event_id="e",
        traveller_id="t",
        occurred_at=T0,
        jurisdiction="HK",
        permitted_until=datetime(2025, 12, 20),  # noqa: DTZ001
    )
    with pytest.raises(InvalidEventError) as info:
        codec.encode_event(event)
    assert info.value.field == "permitted_until"


def test_a_missing_required_field_is_rejected_naming_the_field() -> None:
    event = PermitRevoked(event_id="e", traveller_id="t", occurred_at=T0, permit_id=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError) as info:
        codec.encode_event(event)
    assert info.value.field == "permit_id"


def test_a_decoded_record_breaking_the_event_contract_names_the_field() -> None:
    # Avro allows an empty string; the event contract does not.
    old_writer = codec.schema_history("PermitRevoked")[-1][1]
    data = codec.encode_with_writer(
        old_writer,
        {"event_id": "e", "traveller_id": "t", "occurred_at": T0, "permit_id": ""},
    )
    with pytest.raises(InvalidEventError) as info:
        codec.decode_event(data)
    assert info.value.field == "permit_id"


def test_a_naive_emission_instant_is_rejected_naming_the_field() -> None:
    d = SAMPLE_EMISSION.decision
    naive = dataclasses.replace(d, observed_at=datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(InvalidEventError) as info:
        codec.encode_emission(Emission(Status.ISSUED, naive))
    assert info.value.field == "observed_at"


def test_an_emission_missing_a_required_value_is_an_encode_error() -> None:
    d = SAMPLE_EMISSION.decision
    if NATIVE:  # a compiled Decision refuses the value itself, before any encoder sees it
        with pytest.raises(TypeError):
            dataclasses.replace(d, rule=None)
        return
    broken = dataclasses.replace(d, rule=None)
    with pytest.raises(codec.EncodeError):
        codec.encode_emission(Emission(Status.ISSUED, broken))


# --- framing and corrupt input -------------------------------------------------------------------


def _good() -> bytes:
    return codec.encode_event(SAMPLE_EVENTS[0])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated header"),
        (b"\xc3\x01\x00", "truncated header"),
        (b"not avro at all, just some text", "bad marker"),
        (b"\x00\x01" + bytes(20), "bad marker"),
        (b"\xc3\x01" + bytes(8) + b"\x02ab", "unknown writer schema fingerprint"),
    ],
)
def test_bad_framing_is_a_decode_error_saying_which(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        codec.decode_event(data)


def test_wrong_marker_on_an_otherwise_good_message_is_a_decode_error() -> None:
    data = b"\xc3\x02" + _good()[2:]
    with pytest.raises(DecodeError, match="bad marker"):
        codec.decode_event(data)


@pytest.mark.parametrize("cut", [1, 5, 20, -1])
def test_a_truncated_body_is_a_decode_error(cut: int) -> None:
    good = _good()
    data = good[: codec.HEADER_SIZE + cut] if cut > 0 else good[:cut]
    with pytest.raises(DecodeError, match="truncated") as info:
        codec.decode_event(data)
    assert info.value.__cause__ is not None


def test_trailing_bytes_are_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="trailing"):
        codec.decode_event(_good() + b"\x00")


def test_garbage_bodies_never_leak_a_raw_exception() -> None:
    header = _good()[: codec.HEADER_SIZE]
    rng = random.Random(3)
    for _ in range(3000):
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
        # DecodeError, or InvalidEventError naming a field: both are project errors.
        with contextlib.suppress(LedgerError):
            codec.decode_event(header + body)


def test_a_decode_error_is_a_ledger_error() -> None:
    assert issubclass(DecodeError, LedgerError)


# --- compatibility -------------------------------------------------------------------------------


def _compatible(reader: dict[str, Any], writer: dict[str, Any]) -> bool:
    result = ReaderWriterCompatibilityChecker().get_compatibility(_avro(reader), _avro(writer))
    return result.compatibility is SchemaCompatibilityType.compatible


@pytest.mark.parametrize("name", codec.RECORD_NAMES)
def test_the_current_reader_reads_every_earlier_writer(name: str) -> None:
    current = _raw(SCHEMA_DIR / f"{name}.avsc")
    for path in _history(name):
        assert _compatible(current, _raw(path)), f"{name}.avsc cannot read {path.name}"


@pytest.mark.parametrize("name", codec.RECORD_NAMES)
def test_each_version_reads_its_predecessor(name: str) -> None:
    versions = [_raw(p) for p in _history(name)]
    for older, newer in itertools.pairwise(versions):
        assert _compatible(newer, older)


def _with_new_field(schema: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    candidate = copy.deepcopy(schema)
    candidate["fields"].append(field)
    return candidate


def test_a_new_required_field_without_default_is_reported_incompatible() -> None:
    current = _raw(SCHEMA_DIR / "CrossingRecorded.avsc")
    candidate = _with_new_field(current, {"name": "lane", "type": "string"})
    assert not _compatible(candidate, current)
    fine = _with_new_field(current, {"name": "lane", "type": ["null", "string"], "default": None})
    assert _compatible(fine, current)


def test_removing_an_enum_symbol_is_reported_incompatible() -> None:
    current = _raw(SCHEMA_DIR / "CrossingRecorded.avsc")
    candidate = copy.deepcopy(current)
    for field in candidate["fields"]:
        if field["name"] == "basis":
            field["type"][1]["symbols"].remove("SHORT_STAY")
    assert not _compatible(candidate, current)
    assert _compatible(current, candidate)  # adding a symbol back is backward compatible


def test_the_catalogue_knows_every_history_version() -> None:
    for name in codec.RECORD_NAMES:
        versions = [v for v, _ in codec.schema_history(name)]
        assert versions == list(range(1, len(_history(name)) + 1))


@pytest.mark.parametrize(("name", "version"), sorted(OLD_WRITER_SAMPLES))
def test_old_writer_bytes_decode_with_the_current_reader(name: str, version: int) -> None:
    record, expected = OLD_WRITER_SAMPLES[(name, version)]
    writer = dict(codec.schema_history(name))[version]
    data = codec.encode_with_writer(writer, record)
    assert data[2:10] != codec.fingerprint(codec.current_schema(name))
    assert codec.decode_event(data) == expected


def test_every_earlier_event_schema_version_has_a_sample_read_by_the_current_reader() -> None:
    """The latest version's samples are SAMPLE_EVENTS; every older one needs OLD_WRITER_SAMPLES."""
    for name in EVENT_TYPES:
        for version, _ in codec.schema_history(name)[:-1]:
            assert (name, version) in OLD_WRITER_SAMPLES, f"no sample written by {name} v{version}"


def test_writing_with_an_unknown_writer_schema_is_refused() -> None:
    candidate = _with_new_field(
        _raw(SCHEMA_DIR / "PermitRevoked.avsc"), {"name": "x", "type": "int", "default": 0}
    )
    with pytest.raises(codec.EncodeError, match="not in the schema catalogue"):
        codec.encode_with_writer(candidate, {})


# --- topics --------------------------------------------------------------------------------------


def test_gate_traffic_goes_to_crossings_and_authority_events_to_permits() -> None:
    settings = Settings.from_env(env={})
    topics = {type(e).__name__: codec.topic_for(e, settings) for e in SAMPLE_EVENTS}
    assert topics["CrossingRecorded"] == settings.topic_crossings
    assert topics["GateHeartbeat"] == settings.topic_crossings
    for name in (
        "PermitIssued",
        "PermitRevoked",
        "StayExtended",
        "BiometricConsentRecorded",
        "PreRegistrationRecorded",
    ):
        assert topics[name] == settings.topic_permits
