"""Edge validation and the worker's guards, without Kafka: plausible instants, topic and key
contract, gate clock skew, outputs that would not fit the broker or ClickHouse, quarantine."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from base.settings import Settings
from domain.decisions import Emission, Status
from domain.events import (
    Event,
    GateHeartbeat,
)
from schemas.codec import DeadLetter, decode_dead_letter, encode_event
from schemas.mapping import Coordinates
from streams.edge import EdgeLimits, EdgeViolation, check_event, check_record
from streams.policy_file import load_policy
from streams.worker.batch import Message, Output
from streams.worker.guard import OutputLimits, Quarantine, source_timestamp
from streams.worker.memory_tables import MemoryTables
from streams.worker.processor import Processor
from streams.worker.state_format import decode_applied, decode_clock
from tests.samples import AT, decision, hk_visitor_entry, talent_permit
from tests.unit.test_processor import run_batch

SETTINGS = Settings()
LIMITS = EdgeLimits.from_settings(SETTINGS)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def violation(event: Event, **record: object) -> str:
    with pytest.raises(EdgeViolation) as caught:
        if record:
            check_record(event, LIMITS, SETTINGS, **record)  # type: ignore[arg-type]
        else:
            check_event(event, LIMITS)
    return str(caught.value)


@pytest.mark.parametrize(
    "at",
    [
        datetime(9999, 12, 31, 23, tzinfo=UTC),
        datetime(2100, 1, 1, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(1969, 12, 31, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
    ],
)
def test_instants_outside_the_plausible_range_are_refused(at: datetime) -> None:
    assert violation(hk_visitor_entry(at=at)).startswith("occurred_at: ")
    assert "outside the plausible range 2000-01-01T00:00:00.000Z" in violation(
        hk_visitor_entry(at=at)
    )


def test_the_plausible_range_includes_its_start_and_excludes_its_end() -> None:
    check_event(hk_visitor_entry(at=datetime(2000, 1, 1, tzinfo=UTC)), LIMITS)
    check_event(hk_visitor_entry(at=datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)), LIMITS)


def test_permit_dates_and_stay_lengths_are_bounded() -> None:
    assert violation(talent_permit(valid_until=date(9999, 12, 31))).startswith(
        "valid_until: 9999-12-31"
    )
    assert violation(talent_permit(max_stay_days=10**9)).startswith(
        "max_stay_days: 1000000000 is longer"
    )
    check_event(talent_permit(max_stay_days=365), LIMITS)


def test_the_range_is_a_setting() -> None:
    wide = EdgeLimits.from_settings(replace(SETTINGS, plausible_from="1990-01-01T00:00:00Z"))
    check_event(hk_visitor_entry(at=datetime(1995, 1, 1, tzinfo=UTC)), wide)
    with pytest.raises(EdgeViolation, match="inside ClickHouse's DateTime range"):
        EdgeLimits.from_settings(replace(SETTINGS, plausible_until="2200-01-01T00:00:00Z"))


def test_an_event_type_on_the_wrong_topic_is_refused() -> None:
    ok = {"key": b"T1", "timestamp_ms": ms(AT)}
    assert violation(hk_visitor_entry(), topic=SETTINGS.topic_permits, **ok) == (
        f"type: a CrossingRecorded belongs on {SETTINGS.topic_crossings}, "
        f"not {SETTINGS.topic_permits}"
    )
    assert violation(talent_permit(), topic=SETTINGS.topic_crossings, **ok).startswith(
        "type: a PermitIssued belongs on"
    )
    check_record(talent_permit(), LIMITS, SETTINGS, topic=SETTINGS.topic_permits, **ok)  # type: ignore[arg-type]


def test_the_key_must_be_the_traveller_id() -> None:
    record = {"topic": SETTINGS.topic_crossings, "timestamp_ms": ms(AT)}
    assert violation(hk_visitor_entry(), key=b"T2", **record) == (
        "traveller_id: key b'T2' is not the traveller id (the record's key)"
    )
    assert "no key" in violation(hk_visitor_entry(), key=None, **record)
    beat = GateHeartbeat(event_id="hb", occurred_at=AT, port="HK-LO-WU")
    check_record(beat, LIMITS, SETTINGS, key=None, **record)  # type: ignore[arg-type]


def test_gate_events_may_not_run_ahead_of_the_record_timestamp() -> None:
    beat = GateHeartbeat(event_id="hb", occurred_at=AT, port="HK-LO-WU")
    record = {"topic": SETTINGS.topic_crossings, "key": None}
    received = AT - timedelta(minutes=5, milliseconds=1)
    assert "more than 300 s ahead of the record timestamp" in violation(
        beat, timestamp_ms=ms(received), **record
    )
    for timestamp_ms in (ms(AT - timedelta(minutes=5)), ms(AT + timedelta(days=30)), None, -1):
        check_record(beat, LIMITS, SETTINGS, timestamp_ms=timestamp_ms, **record)  # type: ignore[arg-type]


def emission(traveller: str = "T1", deadline: datetime | None = None) -> Emission:
    return Emission(Status.ISSUED, decision(traveller_id=traveller, deadline=deadline))


def test_outputs_that_exceed_the_message_size_or_clickhouse_range_are_refused() -> None:
    limits = OutputLimits(max_message_bytes=10_000)
    assert limits.refusal([emission()]) is None
    assert limits.refusal([emission(traveller="x" * 2_000)]) is None  # bound exceeded, size fits
    too_large = limits.refusal([emission(traveller="x" * 20_000)])
    assert too_large is not None and too_large.startswith("OutputTooLarge: decision STAY_OPENED")
    late = limits.refusal([emission(deadline=datetime(2200, 1, 1, tzinfo=UTC))])
    assert late is not None and "deadline: 2200-01-01T00:00:00.000Z does not fit" in late


def test_a_dead_letter_too_large_for_the_broker_is_cut_and_says_so() -> None:
    raw = b"\x00" * 50_000
    letter = DeadLetter(raw, "x" * 10_000, "crossings", 0, 7, None, AT)
    encoded = OutputLimits(max_message_bytes=20_000).fit_dead_letter(letter)
    assert len(encoded) <= 20_000
    back = decode_dead_letter(encoded)
    assert raw.startswith(back.raw) and 0 < len(back.raw) < len(raw)
    assert f"of {len(raw)} bytes to fit the broker's message size" in back.reason
    assert "(8000 more)" in back.reason


def test_record_timestamps_outside_clickhouse_are_not_kept_but_named() -> None:
    assert source_timestamp(ms(AT), "r") == (AT, "r")
    assert source_timestamp(None, "r") == (None, "r")
    stamp, reason = source_timestamp(ms(datetime(2200, 1, 1, tzinfo=UTC)), "r")
    assert stamp is None and reason.startswith(
        f"r (record timestamp {ms(datetime(2200, 1, 1, tzinfo=UTC))} ms"
    )
    stamp, reason = source_timestamp(2**62, "r")
    assert stamp is None and "beyond the calendar" in reason


def test_quarantine_retries_once_then_dead_letters_with_the_exception() -> None:
    quarantine = Quarantine(consecutive_limit=2)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("transient")
        return "done"

    assert quarantine.run(flaky, lambda reason: reason) == "done"

    def poison() -> str:
        raise OverflowError("date value out of range")

    reason = quarantine.run(poison, lambda r: r)
    assert reason.startswith(
        "Quarantined: failed twice: OverflowError: date value out of range at "
    )
    assert reason.endswith("in poison")
    assert quarantine.run(poison, lambda r: r).startswith("Quarantined")
    with pytest.raises(OverflowError):  # a third in a row: a broken dependency, stop loudly
        quarantine.run(poison, lambda r: r)


def test_the_processor_dead_letters_a_poison_heartbeat_and_keeps_its_clock() -> None:
    def edge(event: Event, where: Coordinates) -> None:
        check_record(
            event,
            LIMITS,
            SETTINGS,
            topic=where.topic,
            key=where.key,
            timestamp_ms=where.timestamp_ms,
        )

    processor = Processor(load_policy(), edge=edge)
    tables = MemoryTables()
    topic = SETTINGS.topic_crossings
    good = GateHeartbeat(event_id="hb1", occurred_at=AT, port="HK-LO-WU")
    run_batch(processor, tables, [Message(encode_event(good), Coordinates(topic, 0, 0, ms(AT)))])
    before = decode_clock(tables.clocks[0])
    writes = tables.writes
    bad = GateHeartbeat(event_id="hb2", occurred_at=datetime(2099, 1, 1, tzinfo=UTC), port="X")
    sent = run_batch(
        processor, tables, [Message(encode_event(bad), Coordinates(topic, 0, 1, ms(AT)))]
    ).sent
    assert [output for output, _, _ in sent] == [Output.DEAD_LETTERS]
    letter = decode_dead_letter(sent[0][2])
    assert letter.reason.startswith("EdgeViolation: occurred_at: 2099-01-01T00:00:00.000Z is more")
    assert (letter.source_offset, letter.source_timestamp) == (1, AT)
    # Nothing of the refused step is written: only the mark that its offset was dealt with.
    assert tables.writes == writes + 1
    assert decode_applied(tables.clocks[0]) == {topic: 2}
    assert decode_clock(tables.clocks[0]) == before
    assert processor.clock(0) == before
