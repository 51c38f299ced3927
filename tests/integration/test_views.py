"""The investigator views, as-of queries and guide queries, on both backends.

:class:`ViewsContract` holds every test; the subclasses only say how to open a store (chDB in the
session's directory, or the session's ClickHouse 18.16 server), each test in a fresh database.
The fixture data is a small realistic ledger: hand-written events (``tests/unit/rules/helpers``)
run through the real :class:`~domain.engine.Engine`, stored with the ``rows`` functions
and Kafka coordinates as the sink would, plus a repeated emission (at-least-once worker) and dead
letters. Knowledge time: each emission is published 2 s after the event that caused it.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from base.settings import Settings
from domain.decisions import Code, Decision, Emission, Status
from domain.events import GateHeartbeat
from ledger.cli import build_parser
from schemas.mapping import Coordinates
from streams.audit import IN_FORCE_COLUMNS, decisions_in_force
from streams.guide import QUESTIONS, render, run_questions
from streams.store import ReadOnlyError, Store, Table, open_store
from streams.store.base import MAINTAINED_TABLES
from streams.store.recompute import recomputed_views
from streams.store.rows import dead_letter_row, decision_row, event_row
from tests.unit.rules import helpers as h

pytestmark = pytest.mark.integration

CROSSINGS, DECISIONS, DEADLETTER = (
    "border.crossings.v1",
    "border.decisions.v1",
    "border.deadletter.v1",
)
INGESTED = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
PUBLISH_DELAY = timedelta(seconds=2)
# Travellers are keyed to partitions as the producers would (any fixed mapping will do).
PARTITION = {"T-CLOSED": 0, "T-OVER": 1, "T-SUSP": 0, "T-BAD": 1, "T-OPEN": 0, "T-TWICE": 1}
VIEWS = (
    "decision_log",
    "decisions_in_force",
    "timeline",
    "stay_decisions_in_force",
    "event_places",
    "stays",
    "suspected_overstayers",
    "overstays",
    "decisions_by_rule_port_day",
    "dead_letter_report",
)


# The emission columns older workers did not write (DecisionEmitted v3 to v5).
_PLACE_COLUMNS = ("port", "port_at", "port_at_ms", "last_port", "last_at", "last_at_ms")


def at(text: str) -> datetime:
    return h.instant(text)


EVENTS = (
    h.twov_entry("T-CLOSED", "2025-12-01T08:00:00.250Z", event_id="e-closed-in"),
    h.entry(
        "T-OVER",
        "HK-LO-WU",
        "2025-12-01T09:00:00Z",
        "VISITOR",
        nationality="GBR",
        event_id="e-over-in",
    ),
    h.entry(
        "T-SUSP",
        "HK-LOK-MA-CHAU",
        "2025-12-02T10:00:00Z",
        "VISITOR",
        nationality="USA",
        event_id="e-susp-in",
    ),
    h.entry("T-TWICE", "HK-LO-WU", "2025-12-03T08:00:00Z", "VISITOR", event_id="e-twice-in1"),
    h.twov_entry(
        "T-BAD", "2025-12-03T11:00:00Z", port="PVG", nationality="IND", event_id="e-bad-in"
    ),
    h.leave("T-CLOSED", "PEK", "2025-12-04T07:30:00Z", event_id="e-closed-out"),
    h.entry("T-TWICE", "HK-LO-WU", "2025-12-05T08:00:00Z", "VISITOR", event_id="e-twice-in2"),
    h.twov_entry(
        "T-OPEN",
        "2025-12-08T06:00:00Z",
        port="CN-WEST-KOWLOON",
        arrived_from="HKG",
        event_id="e-open-in",
    ),
    h.heartbeat("2025-12-09T12:00:00Z", port="HK-LO-WU", event_id="hb-1"),
    h.leave("T-OVER", "HK-LO-WU", "2025-12-10T09:30:00Z", nationality="GBR", event_id="e-over-out"),
    h.heartbeat("2025-12-12T00:00:00Z", port="HK-LO-WU", event_id="hb-2"),
)
# The worker publishes T-CLOSED's STAY_CLOSED again (a replay after a restart), last of all.
REPEAT_AT = at("2025-12-12T00:00:05.500Z")


@dataclass(frozen=True)
class Published:
    """One emission as published on the decisions topic."""

    emission: Emission
    emitted_at: datetime
    at: Coordinates


@dataclass(frozen=True)
class Ledger:
    """The fixture data: rows per table, and what was published when."""

    rows: dict[Table, list[dict[str, Any]]]
    published: list[Published]

    def decision(self, code: Code, traveller: str, entry: str | None = None) -> Decision:
        """The (single) decision with ``code`` ever issued for ``traveller`` (and ``entry``)."""
        found = {
            d.decision_id: d
            for d in (p.emission.decision for p in self.published)
            if d.code is code
            and d.traveller_id == traveller
            and (entry is None or d.evidence[0] == entry)
        }
        assert len(found) == 1, found
        return next(iter(found.values()))

    def in_force_at(self, known_at: datetime) -> set[str]:
        """The engine-side answer: fold what was published by ``known_at``, in offset order."""
        by_offset = sorted(self.published, key=lambda p: (p.at.partition, p.at.offset))
        return set(h.fold(p.emission for p in by_offset if p.emitted_at <= known_at))


def build_ledger() -> Ledger:
    engine = h.new_engine()
    offsets: dict[tuple[str, int], int] = {}

    def next_at(topic: str, partition: int) -> Coordinates:
        offset = offsets.get((topic, partition), 0)
        offsets[(topic, partition)] = offset + 1
        return Coordinates(topic, partition, offset)

    events: list[dict[str, Any]] = []
    published: list[Published] = []
    for item in EVENTS:
        event = h.to_event(item)
        tid = None if isinstance(event, GateHeartbeat) else event.traveller_id
        events.append(event_row(event, next_at(CROSSINGS, PARTITION.get(tid or "", 0)), INGESTED))
        for emission in engine.process(event):
            partition = PARTITION[emission.decision.traveller_id]
            emitted = event.occurred_at + PUBLISH_DELAY
            published.append(Published(emission, emitted, next_at(DECISIONS, partition)))
    closed = next(p for p in published if p.emission.decision.code is Code.STAY_CLOSED).emission
    published.append(Published(closed, REPEAT_AT, next_at(DECISIONS, PARTITION["T-CLOSED"])))
    decisions = [decision_row(p.emission, p.at, p.emitted_at, INGESTED) for p in published]
    letters = [
        dead_letter_row(
            raw=raw,
            reason=reason,
            source_topic=CROSSINGS,
            source_partition=partition,
            source_offset=offset,
            source_timestamp=at("2025-12-02T10:00:00.125Z"),
            failed_at=at("2025-12-02T10:00:01.500Z"),
            at=next_at(DEADLETTER, 0),
            ingested_at=INGESTED,
        )
        for raw, reason, partition, offset in (
            (b"not avro", "bad framing: no single-object marker", 0, 57),
            (b"\xc3\x01" + bytes(8) + b"{}", "occurred_at: timestamp without a UTC offset", 1, 12),
        )
    ]
    rows = {Table.EVENTS: events, Table.DECISIONS: decisions, Table.DEAD_LETTERS: letters}
    return Ledger(rows, published)


LEDGER = build_ledger()


def dt(text: str) -> datetime:
    """A whole-second UTC instant as a store returns it."""
    return at(text).replace(microsecond=0)


class ViewsContract:
    """The views and audit queries answer the same on every backend."""

    @pytest.fixture
    def settings(self) -> Settings:
        raise NotImplementedError  # subclasses provide the backend's settings

    @pytest.fixture
    def writer(self, settings: Settings) -> Iterator[Store]:
        store = open_store(settings, "writer")
        store.migrate()
        for table, rows in LEDGER.rows.items():
            store.insert(table, rows)
        yield store
        store.close()

    @pytest.fixture
    def investigator(self, settings: Settings, writer: Store) -> Iterator[Store]:
        store = open_store(settings, "investigator")
        yield store
        store.close()

    def rows(self, store: Store, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
        return store.query(sql, params).rows

    # -- the decisions in force ----------------------------------------------------------------

    def test_the_fixture_has_a_retraction_a_repeat_and_every_outcome(self) -> None:
        statuses = [(p.emission.decision.code, p.emission.status) for p in LEDGER.published]
        assert (Code.SUSPECTED_OVERSTAY, Status.RETRACTED) in statuses
        assert statuses.count((Code.STAY_CLOSED, Status.ISSUED)) == 2
        assert {Code.OVERSTAY, Code.ENTRY_WITHOUT_EXIT, Code.INELIGIBLE_NATIONALITY} <= {
            c for c, _ in statuses
        }

    def test_decisions_in_force_count_each_decision_once_and_match_the_engine(
        self, investigator: Store
    ) -> None:
        ids = [r[0] for r in self.rows(investigator, "SELECT decision_id FROM decisions_in_force")]
        assert len(ids) == len(set(ids))
        assert set(ids) == LEDGER.in_force_at(REPEAT_AT)
        suspected = LEDGER.decision(Code.SUSPECTED_OVERSTAY, "T-OVER").decision_id
        assert suspected not in ids
        assert len(ids) == 12  # 7 stays opened, 1 closed, 1 overstay, 1 suspected, 2 others

    def test_the_latest_emission_decides_even_after_a_repeat(self, writer: Store) -> None:
        closed = LEDGER.decision(Code.STAY_CLOSED, "T-CLOSED")
        retraction = Emission(Status.RETRACTED, closed)
        late = Coordinates(DECISIONS, PARTITION["T-CLOSED"], 1000)
        writer.insert_decisions(
            [decision_row(retraction, late, REPEAT_AT + timedelta(hours=1), INGESTED)]
        )
        sql = "SELECT count() FROM decisions_in_force WHERE decision_id = {id:String}"
        assert self.rows(writer, sql, {"id": closed.decision_id}) == [(0,)]
        log = self.rows(
            writer,
            "SELECT status, latest, kafka_offset FROM decision_log WHERE decision_id = {id:String} "
            "ORDER BY kafka_offset",
            {"id": closed.decision_id},
        )
        assert [(s, latest) for s, latest, _ in log] == [
            ("ISSUED", 0),
            ("ISSUED", 0),
            ("RETRACTED", 1),
        ]

    def test_decision_log_keeps_every_emission_with_its_knowledge_time(
        self, investigator: Store
    ) -> None:
        rows = self.rows(
            investigator,
            "SELECT code, status, emitted_at, emitted_at_ms, latest FROM decision_log "
            "WHERE traveller_id = 'T-OVER' ORDER BY kafka_offset",
        )
        assert rows == [
            ("STAY_OPENED", "ISSUED", dt("2025-12-01T09:00:02Z"), 0, 1),
            ("SUSPECTED_OVERSTAY", "ISSUED", dt("2025-12-09T12:00:02Z"), 0, 0),
            ("SUSPECTED_OVERSTAY", "RETRACTED", dt("2025-12-10T09:30:02Z"), 0, 1),
            ("OVERSTAY", "ISSUED", dt("2025-12-10T09:30:02Z"), 0, 1),
        ]
        assert self.rows(investigator, "SELECT count() FROM decision_log") == [
            (len(LEDGER.published),)
        ]

    # -- the views -----------------------------------------------------------------------------

    def test_timeline_interleaves_events_and_emissions(self, investigator: Store) -> None:
        rows = self.rows(
            investigator,
            "SELECT at, at_ms, kind, what, port, detail, ref_id, evidence, emitted_at "
            "FROM timeline WHERE traveller_id = 'T-OVER' ORDER BY at, at_ms, kind DESC, "
            "kafka_offset",
        )
        opened = LEDGER.decision(Code.STAY_OPENED, "T-OVER")
        suspected = LEDGER.decision(Code.SUSPECTED_OVERSTAY, "T-OVER")
        over = LEDGER.decision(Code.OVERSTAY, "T-OVER")
        assert rows == [
            (dt("2025-12-01T09:00:00Z"), 0, "event", "CrossingRecorded", "HK-LO-WU",
             "ENTRY VISITOR GBR PASSPORT COUNTER", "e-over-in", [], None),
            (dt("2025-12-01T09:00:00Z"), 0, "decision", "STAY_OPENED ISSUED", "HK-LO-WU",
             opened.detail, opened.decision_id, ["e-over-in"], dt("2025-12-01T09:00:02Z")),
            (dt("2025-12-08T16:00:00Z"), 0, "decision", "SUSPECTED_OVERSTAY ISSUED", "HK-LO-WU",
             suspected.detail, suspected.decision_id, ["e-over-in"], dt("2025-12-09T12:00:02Z")),
            (dt("2025-12-08T16:00:00Z"), 0, "decision", "SUSPECTED_OVERSTAY RETRACTED",
             "HK-LO-WU", suspected.detail, suspected.decision_id, ["e-over-in"],
             dt("2025-12-10T09:30:02Z")),
            (dt("2025-12-10T09:30:00Z"), 0, "event", "CrossingRecorded", "HK-LO-WU",
             "EXIT GBR PASSPORT COUNTER", "e-over-out", [], None),
            (dt("2025-12-10T09:30:00Z"), 0, "decision", "OVERSTAY ISSUED", "HK-LO-WU",
             over.detail, over.decision_id, ["e-over-in", "e-over-out"],
             dt("2025-12-10T09:30:02Z")),
        ]  # fmt: skip
        assert self.rows(investigator, "SELECT count() FROM timeline WHERE traveller_id = ''") == [
            (0,)
        ]
        assert self.rows(investigator, "SELECT count() FROM timeline") == [
            (len(EVENTS) - 2 + len(LEDGER.published),)
        ]

    def test_stays_carry_deadline_and_outcome(self, investigator: Store) -> None:
        rows = self.rows(
            investigator,
            "SELECT traveller_id, jurisdiction, entry_event_id, entry_port, entered_at, "
            "entered_at_ms, deadline, outcome, overstay_seconds, exit_event_id, exit_port, "
            "exited_at, closed_by_entry_id FROM stays ORDER BY traveller_id, entered_at",
        )
        assert rows == [
            ("T-BAD", "CN", "e-bad-in", "PVG", dt("2025-12-03T11:00:00Z"), 0,
             dt("2025-12-13T16:00:00Z"), "open", None, None, None, None, ""),
            ("T-CLOSED", "CN", "e-closed-in", "PEK", dt("2025-12-01T08:00:00Z"), 250,
             dt("2025-12-11T16:00:00Z"), "closed within limit", None, "e-closed-out", "PEK",
             dt("2025-12-04T07:30:00Z"), ""),
            ("T-OPEN", "CN", "e-open-in", "CN-WEST-KOWLOON", dt("2025-12-08T06:00:00Z"), 0,
             dt("2025-12-18T16:00:00Z"), "open", None, None, None, None, ""),
            ("T-OVER", "HK", "e-over-in", "HK-LO-WU", dt("2025-12-01T09:00:00Z"), 0,
             dt("2025-12-08T16:00:00Z"), "overstay", 149400, "e-over-out", "HK-LO-WU",
             dt("2025-12-10T09:30:00Z"), ""),
            ("T-SUSP", "HK", "e-susp-in", "HK-LOK-MA-CHAU", dt("2025-12-02T10:00:00Z"), 0,
             dt("2025-12-09T16:00:00Z"), "suspected overstay", None, None, None, None, ""),
            ("T-TWICE", "HK", "e-twice-in1", "HK-LO-WU", dt("2025-12-03T08:00:00Z"), 0,
             dt("2025-12-10T16:00:00Z"), "exit unknown", None, None, None, None, "e-twice-in2"),
            ("T-TWICE", "HK", "e-twice-in2", "HK-LO-WU", dt("2025-12-05T08:00:00Z"), 0,
             dt("2025-12-12T16:00:00Z"), "open", None, None, None, None, ""),
        ]  # fmt: skip

    def test_overstayers_in_and_out_of_the_country(self, investigator: Store) -> None:
        suspected = self.rows(
            investigator,
            "SELECT traveller_id, jurisdiction, entry_event_id, entry_port, entered_at, deadline, "
            "decision_id FROM suspected_overstayers ORDER BY traveller_id",
        )
        assert suspected == [
            ("T-SUSP", "HK", "e-susp-in", "HK-LOK-MA-CHAU", dt("2025-12-02T10:00:00Z"),
             dt("2025-12-09T16:00:00Z"),
             LEDGER.decision(Code.SUSPECTED_OVERSTAY, "T-SUSP").decision_id),
        ]  # fmt: skip
        out = self.rows(
            investigator,
            "SELECT traveller_id, entry_port, entered_at, exit_event_id, exit_port, exited_at, "
            "deadline, overstay_seconds, emitted_at FROM overstays",
        )
        assert out == [
            ("T-OVER", "HK-LO-WU", dt("2025-12-01T09:00:00Z"), "e-over-out", "HK-LO-WU",
             dt("2025-12-10T09:30:00Z"), dt("2025-12-08T16:00:00Z"), 149400,
             dt("2025-12-10T09:30:02Z")),
        ]  # fmt: skip

    def test_a_suspected_overstay_closed_by_a_second_entry_is_not_in_country(
        self, writer: Store
    ) -> None:
        # T-TWICE's first stay, had its deadline passed before the second entry: the suspicion
        # stands, but the traveller has since left (unrecorded) and come back.
        first = LEDGER.decision(Code.STAY_OPENED, "T-TWICE", "e-twice-in1")
        suspected = Decision(
            decision_id="d-twice-suspected",
            traveller_id="T-TWICE",
            code=Code.SUSPECTED_OVERSTAY,
            severity=first.severity,
            jurisdiction="HK",
            rule=first.rule,
            evidence=("e-twice-in1",),
            deadline=first.deadline,
            overstay_seconds=None,
            observed_at=at("2025-12-10T16:00:00Z"),
            detail="no exit known after the deadline",
        )
        # carrying its entry's port and instant, as the worker's emissions do (v4)
        emission = Emission(Status.ISSUED, suspected, "HK-LO-WU", at("2025-12-03T08:00:00Z"))
        row = decision_row(
            emission,
            Coordinates(DECISIONS, PARTITION["T-TWICE"], 999),
            REPEAT_AT,
            INGESTED,
        )
        writer.insert_decisions([row])
        sql = "SELECT outcome FROM stays WHERE entry_event_id = 'e-twice-in1'"
        assert self.rows(writer, sql) == [("suspected overstay",)]
        assert self.rows(writer, "SELECT traveller_id FROM suspected_overstayers") == [("T-SUSP",)]

    def test_decisions_by_rule_port_and_day(self, investigator: Store) -> None:
        rows = self.rows(
            investigator,
            "SELECT day, port, code, severity, decisions, travellers FROM "
            "decisions_by_rule_port_day ORDER BY day, port, code",
        )
        assert rows == [
            (date(2025, 12, 1), "HK-LO-WU", "STAY_OPENED", "INFO", 1, 1),
            (date(2025, 12, 1), "PEK", "STAY_OPENED", "INFO", 1, 1),
            (date(2025, 12, 2), "HK-LOK-MA-CHAU", "STAY_OPENED", "INFO", 1, 1),
            (date(2025, 12, 3), "HK-LO-WU", "STAY_OPENED", "INFO", 1, 1),
            (date(2025, 12, 3), "PVG", "INELIGIBLE_NATIONALITY", "VIOLATION", 1, 1),
            (date(2025, 12, 3), "PVG", "STAY_OPENED", "INFO", 1, 1),
            (date(2025, 12, 4), "PEK", "STAY_CLOSED", "INFO", 1, 1),
            (date(2025, 12, 5), "HK-LO-WU", "ENTRY_WITHOUT_EXIT", "REVIEW", 1, 1),
            (date(2025, 12, 5), "HK-LO-WU", "STAY_OPENED", "INFO", 1, 1),
            (date(2025, 12, 8), "CN-WEST-KOWLOON", "STAY_OPENED", "INFO", 1, 1),
            (date(2025, 12, 9), "HK-LOK-MA-CHAU", "SUSPECTED_OVERSTAY", "WARNING", 1, 1),
            (date(2025, 12, 10), "HK-LO-WU", "OVERSTAY", "VIOLATION", 1, 1),
        ]
        rules = self.rows(
            investigator,
            "SELECT rule, sum(decisions) FROM decisions_by_rule_port_day GROUP BY rule "
            "ORDER BY rule",
        )
        assert [n for _, n in rules] == [1, 5, 6]
        assert [r.split("/")[0] for r, _ in rules] == [
            "SEQUENCE",
            "TWOV-240H@2024-12-17",
            "VISITOR-7D",
        ]

    def test_dead_letters_are_readable(self, investigator: Store) -> None:
        rows = self.rows(
            investigator,
            "SELECT source_topic, source_partition, source_offset, reason, failed_at, "
            "failed_at_ms, source_timestamp, raw_bytes, kafka_topic, kafka_offset "
            "FROM dead_letter_report ORDER BY source_partition",
        )
        assert rows == [
            (CROSSINGS, 0, 57, "bad framing: no single-object marker", dt("2025-12-02T10:00:01Z"),
             500, dt("2025-12-02T10:00:00Z"), 8, DEADLETTER, 0),
            (CROSSINGS, 1, 12, "occurred_at: timestamp without a UTC offset",
             dt("2025-12-02T10:00:01Z"), 500, dt("2025-12-02T10:00:00Z"), 12, DEADLETTER, 1),
        ]  # fmt: skip

    @pytest.mark.parametrize("size", range(7))
    def test_raw_size_is_decoded_from_base64_for_every_padding(
        self, writer: Store, size: int
    ) -> None:
        row = dict(LEDGER.rows[Table.DEAD_LETTERS][0])
        row.update(
            dead_letter_row(
                raw=bytes(range(size)),
                reason="sized",
                source_topic=CROSSINGS,
                source_partition=9,
                source_offset=size,
                source_timestamp=None,
                failed_at=INGESTED,
                at=Coordinates(DEADLETTER, 9, size),
                ingested_at=INGESTED,
            )
        )
        writer.insert_dead_letters([row])
        sql = "SELECT raw_bytes FROM dead_letter_report WHERE reason = 'sized'"
        assert self.rows(writer, sql) == [(size,)]

    # -- as of a knowledge time ----------------------------------------------------------------

    @pytest.mark.parametrize(
        "known_at",
        [
            "2025-12-09T12:00:01.999Z",  # 1 ms before the suspicion about T-OVER was published
            "2025-12-09T12:00:02.000Z",  # the instant it was published
            "2025-12-10T09:30:02.000Z",  # the exit: suspicion withdrawn, overstay issued
            "2025-12-12T00:00:05.500Z",  # everything, the repeat included
        ],
    )
    def test_decisions_in_force_as_of_a_knowledge_time(
        self, investigator: Store, known_at: str
    ) -> None:
        result = decisions_in_force(investigator, at(known_at))
        assert result.columns == IN_FORCE_COLUMNS
        ids = [r[0] for r in result.rows]
        assert len(ids) == len(set(ids))
        assert set(ids) == LEDGER.in_force_at(at(known_at))

    def test_as_of_answers_differ_before_and_after_the_exit(self, investigator: Store) -> None:
        def codes(known_at: str) -> list[str]:
            result = decisions_in_force(investigator, at(known_at), traveller="T-OVER")
            return [r[2] for r in result.rows]

        assert codes("2025-12-09T12:00:01.999Z") == ["STAY_OPENED"]
        assert codes("2025-12-09T12:00:02Z") == ["STAY_OPENED", "SUSPECTED_OVERSTAY"]
        assert codes("2025-12-10T09:30:02Z") == ["STAY_OPENED", "OVERSTAY"]
        assert codes("2025-11-30T00:00:00Z") == []
        now = decisions_in_force(investigator, REPEAT_AT)
        view = investigator.query(
            f"SELECT {', '.join(IN_FORCE_COLUMNS)} FROM decisions_in_force "
            "ORDER BY traveller_id, observed_at, observed_at_ms, decision_id"
        )
        assert now == view

    def test_ledger_asof_prints_the_answer(
        self, settings: Settings, writer: Store, capsys: pytest.CaptureFixture[str]
    ) -> None:
        args = build_parser().parse_args(
            ["asof", "--known-at", "2025-12-09T20:00:02+08:00", "--traveller", "T-OVER", "--tsv"]
        )
        assert args._module.run(args, settings) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split("\t") == list(IN_FORCE_COLUMNS)
        assert [line.split("\t")[2] for line in lines[1:]] == [
            "STAY_OPENED",
            "SUSPECTED_OVERSTAY",
        ]

    # -- permissions ---------------------------------------------------------------------------

    # -- maintained tables against a recomputation from the append-only tables ---------------

    def replay_and_retract(self, writer: Store) -> None:
        """More of what a real run brings: a replayed batch, duplicate events, a retraction.

        The worker republishes its last five emissions at new offsets (a batch replayed after a
        restart), two events are published twice, and T-CLOSED's stay closure is withdrawn
        then issued again, so a decision's latest emission changes twice.
        """
        offsets = {p: 2000 for p in set(PARTITION.values())}

        def later(partition: int) -> Coordinates:
            offsets[partition] += 1
            return Coordinates(DECISIONS, partition, offsets[partition])

        replay = [
            decision_row(p.emission, later(p.at.partition), REPEAT_AT, INGESTED)
            for p in LEDGER.published[-5:]
        ]
        closed = LEDGER.decision(Code.STAY_CLOSED, "T-CLOSED")
        issued = next(p.emission for p in LEDGER.published if p.emission.decision == closed)
        flip = [  # as the worker publishes them: with the entry's port and instant
            decision_row(
                dataclasses.replace(issued, status=status),
                later(PARTITION["T-CLOSED"]),
                when,
                INGESTED,
            )
            for status, when in (
                (Status.RETRACTED, REPEAT_AT + timedelta(hours=1)),
                (Status.ISSUED, REPEAT_AT + timedelta(hours=2)),
            )
        ]
        again = [
            {**row, "kafka_offset": row["kafka_offset"] + 500}
            for row in LEDGER.rows[Table.EVENTS][:2]
        ]
        writer.insert_decisions(replay)
        writer.insert_decisions(flip)
        writer.insert_events(again)

    def assert_views_match_recomputation(self, store: Store) -> None:
        for view, sql in recomputed_views(store.database).items():
            maintained = store.query(f"SELECT * FROM {view}")
            scratch = store.query(f"SELECT * FROM ({sql}) AS v")
            assert maintained.columns == scratch.columns, view
            assert maintained.types == scratch.types, view
            assert sorted(map(repr, maintained.rows)) == sorted(map(repr, scratch.rows)), view
            assert maintained.rows, view

    def test_maintained_tables_agree_with_a_recomputation(self, writer: Store) -> None:
        self.replay_and_retract(writer)
        self.assert_views_match_recomputation(writer)
        one = "WHERE traveller_id = 'T-CLOSED'"  # the filter reaches every side of the joins
        for view, sql in recomputed_views(writer.database).items():
            if view not in ("decisions_by_rule_port_day", "dead_letter_report"):
                maintained = self.rows(writer, f"SELECT * FROM {view} {one}")
                scratch = self.rows(writer, f"SELECT * FROM ({sql}) AS v {one}")
                assert sorted(map(repr, maintained)) == sorted(map(repr, scratch)), view

    def test_maintained_tables_are_filled_from_the_record_on_creation(self, writer: Store) -> None:
        self.replay_and_retract(writer)
        for name in MAINTAINED_TABLES:
            writer.query(f"DROP TABLE {name}_mv")
            writer.query(f"DROP TABLE {name}")
        writer.migrate()
        decisions = {p.emission.decision.decision_id for p in LEDGER.published}
        filled = self.rows(writer, "SELECT count(), uniqExact(decision_id) FROM decision_current")
        assert filled[0][1] == len(decisions)
        self.assert_views_match_recomputation(writer)
        writer.migrate()  # the fill is guarded: nothing is copied twice
        again = self.rows(writer, "SELECT count(), uniqExact(decision_id) FROM decision_current")
        assert again == filled

    def test_an_older_store_is_rebuilt_with_the_entries_of_its_crossings(
        self, settings: Settings
    ) -> None:
        # emissions written before DecisionEmitted v3 (no port, no instant), in a store whose
        # maintained tables have their older shapes (engine, missing columns)
        store = open_store(settings, "writer")
        store.migrate()
        try:
            for name in ("decision_current", "event_ports", "stay_emissions"):
                store.query(f"DROP TABLE {name}_mv")
            store.query("DROP TABLE stay_emissions")  # a store older than that table, which
            store.query(  # had the closing decisions by code instead (retired)
                "CREATE TABLE stay_decisions (code String, traveller_id String) "
                "ENGINE = ReplacingMergeTree() ORDER BY (code, traveller_id)"
            )
            for name in ("decision_current", "event_ports"):
                store.query(f"DROP TABLE {name}")
                store.query(
                    f"CREATE TABLE {name} (traveller_id String, event_id String) "
                    "ENGINE = ReplacingMergeTree() ORDER BY (traveller_id, event_id)"
                )
            store.insert(Table.EVENTS, LEDGER.rows[Table.EVENTS])
            store.insert(Table.DEAD_LETTERS, LEDGER.rows[Table.DEAD_LETTERS])
            unported = [
                {**row, **dict.fromkeys(_PLACE_COLUMNS)} for row in LEDGER.rows[Table.DECISIONS]
            ]
            store.insert(Table.DECISIONS, unported)
            store.migrate()
            engines = self.rows(
                store,
                "SELECT name, engine FROM system.tables WHERE database = {db:String} "
                "AND name IN ('decision_current', 'event_ports') ORDER BY name",
                {"db": store.database},
            )
            assert engines == [("decision_current", "MergeTree"), ("event_ports", "MergeTree")]
            retired = "SELECT count() FROM system.tables WHERE name = 'stay_decisions'"
            assert self.rows(store, retired) == [(0,)]
            missing = "SELECT count() FROM stay_emissions WHERE entry_port IS NULL"
            assert self.rows(store, missing) == [(0,)]  # looked up from the stored entries
            exits = (
                "SELECT count() FROM stay_emissions WHERE code = 'STAY_CLOSED' AND last_at IS NULL"
            )
            assert self.rows(store, exits) == [(0,)]  # looked up from the stored exits
            assert self.rows(store, "SELECT count() FROM suspected_overstayers") == [(1,)]
            self.assert_views_match_recomputation(store)
        finally:
            store.close()

    def test_migration_creates_every_view(self, writer: Store) -> None:
        writer.migrate()  # idempotent
        names = self.rows(
            writer,
            "SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'View' "
            "ORDER BY name",
            {"db": writer.database},
        )
        assert [n for (n,) in names] == sorted(VIEWS)

    @pytest.mark.parametrize("view", VIEWS)
    def test_investigator_can_select_every_view(self, investigator: Store, view: str) -> None:
        result = investigator.query(f"SELECT count() FROM {view}")
        assert result.rows[0][0] > 0

    @pytest.mark.parametrize(
        "sql",
        [
            "INSERT INTO decisions_in_force (decision_id) VALUES ('forged')",
            "INSERT INTO decisions (decision_id) VALUES ('forged')",
            "CREATE VIEW sneaky AS SELECT 1",
            "DROP TABLE stays",
            "DROP TABLE decisions",
        ],
    )
    def test_investigator_cannot_write(self, investigator: Store, writer: Store, sql: str) -> None:
        with pytest.raises(ReadOnlyError):
            investigator.query(sql)
        assert self.rows(writer, "SELECT count() FROM decisions") == [(len(LEDGER.published),)]
        assert self.rows(writer, "SELECT count() FROM stays") == [(7,)]

    # -- the investigator's guide --------------------------------------------------------------

    def test_every_guide_query_runs_as_the_investigator(self, investigator: Store) -> None:
        answers = run_questions(investigator)
        assert len(answers) == len(QUESTIONS) == 10
        first_column = [sorted({str(r[0]) for r in result.rows}) for _, result in answers]
        assert first_column == [
            ["T-SUSP"],  # suspected in-country
            ["T-OVER"],  # overstays
            ["CN", "HK"],  # outcomes per jurisdiction
            ["T-BAD", "T-OPEN", "T-TWICE"],  # open stays by deadline
            ["2025-12-03", "2025-12-10"],  # violations per day
            ["IND"],  # refusals by nationality
            [str(dt(t)) for t in ("2025-12-01T09:00Z", "2025-12-08T16:00Z", "2025-12-10T09:30Z")],
            ["SUSPECTED_OVERSTAY"],  # withdrawn
            ["STAY_CLOSED"],  # published more than once
            [CROSSINGS],  # dead letters
        ]
        text = render(answers, backend=investigator.backend, data_note="the test ledger")
        assert text.count("\n## ") == 11
        assert "| T-SUSP | HK | HK-LOK-MA-CHAU |" in text


def _fresh_database() -> str:
    return f"v_{uuid.uuid4().hex[:12]}"


class TestChdbViews(ViewsContract):
    @pytest.fixture
    def settings(self, base_settings: Settings, chdb_dir: Path) -> Settings:
        return base_settings.with_overrides(
            store="chdb", chdb_path=chdb_dir, clickhouse_database=_fresh_database()
        )


class TestServerViews(ViewsContract):
    @pytest.fixture
    def settings(self, clickhouse_settings: Settings) -> Settings:
        return clickhouse_settings.with_overrides(
            store="server", clickhouse_database=_fresh_database()
        )


def test_guide_markdown_table_escapes_pipes_and_renders_nulls() -> None:
    from streams.guide import markdown_table

    assert markdown_table(("a", "b"), [("x|y", None)]) == "| a | b |\n|---|---|\n| x\\|y | NULL |"
    assert markdown_table(("a",), []) == "_(no rows)_"
