"""Synthetic audit-store rows for ``make bench-audit``: a year and a half of crossings.

Rows are built directly as the sink would hand them to ``Store.insert`` (every column of
``streams.store.COLUMNS``, copied from a row the real ``rows`` functions made, so a column added
to the DDL is present here too), because building 100 million domain events and decisions one
by one would take hours. The shape follows what the worker publishes for travellers with a few
stays each: a STAY_OPENED per entry; per exit a STAY_CLOSED, or (a late exit) a
SUSPECTED_OVERSTAY at the deadline that the exit retracts with an OVERSTAY; a stay whose exit is
never recorded stays SUSPECTED_OVERSTAY; a stay still running at the end of the span is open, or
suspected if its deadline has passed; a few entry violations; about 1 % of emissions published
twice (the at-least-once worker). Gate heartbeats fill the events up to the asked number, so
emissions are about 0.3 of events as in the issue's year. Deterministic for a given seed.

Rows come in time order, day by day, as the sink would store them live: a traveller's next visit
waits in a heap, rows of a visit that happen on later days (its exit, a suspicion at the
deadline) wait in that day's bucket. Each day brings as many crossings as the asked volume
spread evenly over the span, from returning travellers first and newcomers for the rest.

The violation shares are the project's simulated day (``make run``: ``violation_share`` 0.05
over six kinds), measured on 20,000 travellers: 175 missing and 179 late exits for 35,877
entries, i.e. about 0.5 % of stays each (:data:`MISSING_EXIT_SHARE`, :data:`LATE_EXIT_SHARE`).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.decisions import Code, Decision, Emission, Severity, Status
from domain.events import Channel, CrossingRecorded, Direction, Document, GateHeartbeat
from schemas.mapping import Coordinates
from streams.store.rows import decision_row, event_row

START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=540)
END = START + SPAN  # "now" of the store: later exits have not happened yet
MISSING_EXIT_SHARE = 0.005  # stays whose exit is never recorded (suspected in-country)
LATE_EXIT_SHARE = 0.005  # stays left after the deadline (out-of-country overstay)
PORTS = tuple(f"PORT-{n:02d}" for n in range(30))
NATIONALITIES = ("GBR", "USA", "DEU", "FRA", "JPN", "KOR", "AUS", "IND", "BRA", "ZAF")
PARTITIONS = 8
EVENTS_TOPIC, DECISIONS_TOPIC = "border.crossings.v1", "border.decisions.v1"
RULE = "VISITOR-7D/policy:2025-11-05.1"


def _templates() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    at = Coordinates(EVENTS_TOPIC, 0, 0)
    crossing = CrossingRecorded(
        event_id="e",
        traveller_id="t",
        occurred_at=START,
        port=PORTS[0],
        direction=Direction.ENTRY,
        nationality="GBR",
        document=Document.PASSPORT,
        channel=Channel.COUNTER,
    )
    heartbeat = GateHeartbeat(event_id="h", occurred_at=START, port=PORTS[0])
    decision = Decision(
        "d", "t", Code.STAY_OPENED, Severity.INFO, "CN", RULE, ("e",), None, None, START, ""
    )
    return (
        event_row(crossing, at, START),
        event_row(heartbeat, at, START),
        decision_row(Emission(Status.ISSUED, decision), at, START, START),
    )


@dataclass(order=True, slots=True)
class _Visitor:
    """A traveller between two visits."""

    next_entry: datetime
    tid: str = field(compare=False)
    nat: str = field(compare=False)
    partition: int = field(compare=False)
    visits_left: int = field(compare=False)


Rows = list[dict[str, Any]]


@dataclass
class Generator:
    """Rows of ``events`` and ``decisions`` in chunks, with Kafka coordinates per partition."""

    events: int
    seed: int = 7
    emission_ratio: float = 0.3
    rng: random.Random = field(init=False)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    crossings: int = 0
    emissions: int = 0
    travellers: list[str] = field(default_factory=list)
    made: int = 0  # events yielded so far

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._crossing, self._heartbeat, self._decision = _templates()
        self.ingested = START.replace(year=2026)
        self._waiting: list[_Visitor] = []
        self._later: dict[int, tuple[Rows, Rows]] = {}  # day index -> (events, decisions)
        self._newcomers = 0

    def _next(self, topic: str, partition: int) -> tuple[str, int, int]:
        key = (topic, partition)
        offset = self.offsets.get(key, 0)
        self.offsets[key] = offset + 1
        return topic, partition, offset

    def _event(
        self,
        *,
        tid: str,
        eid: str,
        at: datetime,
        port: str,
        direction: str,
        nat: str,
        partition: int,
    ) -> dict[str, Any]:
        row = dict(self._crossing)
        topic, part, offset = self._next(EVENTS_TOPIC, partition)
        row.update(
            event_id=eid,
            traveller_id=tid,
            occurred_at=at.replace(microsecond=0),
            occurred_at_ms=at.microsecond // 1000,
            port=port,
            direction=direction,
            basis="VISITOR" if direction == "ENTRY" else None,
            nationality=nat,
            payload=f'{{"event_id":"{eid}","port":"{port}","traveller_id":"{tid}"}}',
            kafka_topic=topic,
            kafka_partition=part,
            kafka_offset=offset,
        )
        return row

    def _emit(
        self,
        *,
        tid: str,
        code: str,
        severity: str,
        evidence: list[str],
        observed: datetime,
        deadline: datetime | None,
        overstay: int | None,
        partition: int,
        port: str,
        port_at: datetime,
        last: tuple[str, datetime] | None = None,
    ) -> dict[str, Any]:
        """An ISSUED emission citing first the entry at ``port`` and ``port_at`` (v4) and, if
        given, last the crossing at ``last`` (v5: the exit's port and instant)."""
        row = dict(self._decision)
        topic, part, offset = self._next(DECISIONS_TOPIC, partition)
        emitted = observed + timedelta(seconds=2)
        did = f"{self.rng.getrandbits(96):024x}"
        row.update(
            decision_id=did,
            status="ISSUED",
            traveller_id=tid,
            code=code,
            severity=severity,
            evidence=evidence,
            deadline=deadline,
            deadline_ms=0 if deadline else None,
            overstay_seconds=overstay,
            observed_at=observed.replace(microsecond=0),
            observed_at_ms=observed.microsecond // 1000,
            detail=code,
            port=port,
            port_at=port_at.replace(microsecond=0),
            port_at_ms=port_at.microsecond // 1000,
            last_port=None if last is None else last[0],
            last_at=None if last is None else last[1].replace(microsecond=0),
            last_at_ms=None if last is None else last[1].microsecond // 1000,
            emitted_at=emitted.replace(microsecond=0),
            emitted_at_ms=emitted.microsecond // 1000,
            kafka_topic=topic,
            kafka_partition=part,
            kafka_offset=offset,
            ingested_at=self.ingested,
        )
        return row

    def _retract(self, issued: dict[str, Any], observed: datetime) -> dict[str, Any]:
        row = dict(issued)
        offset = self._next(DECISIONS_TOPIC, issued["kafka_partition"])[2]
        emitted = observed + timedelta(seconds=2)
        row.update(
            status="RETRACTED",
            kafka_offset=offset,
            emitted_at=emitted.replace(microsecond=0),
            emitted_at_ms=emitted.microsecond // 1000,
        )
        return row

    def _repeat(self, issued: dict[str, Any]) -> dict[str, Any]:
        row = dict(issued)
        row["kafka_offset"] = self._next(DECISIONS_TOPIC, issued["kafka_partition"])[2]
        return row

    def _newcomer(self, day_start: datetime) -> _Visitor:
        """A traveller first seen on the day starting at ``day_start``."""
        rng = self.rng
        tid = f"trv-{rng.getrandbits(64):016x}"
        if len(self.travellers) < 1000:
            self.travellers.append(tid)
        self._newcomers += 1
        at = day_start + timedelta(seconds=rng.uniform(0, 86400))
        nat = rng.choice(NATIONALITIES)
        return _Visitor(at, tid, nat, self._newcomers % PARTITIONS, rng.randint(2, 8))

    def _visit(self, visitor: _Visitor, day: int, today: tuple[Rows, Rows]) -> int:
        """One visit's rows into today's lists or later days' buckets; crossings made."""
        events: Rows = []
        out: Rows = []
        crossing = {"tid": visitor.tid, "nat": visitor.nat, "partition": visitor.partition}
        if self._stay(visitor.next_entry, crossing, events, out) and visitor.visits_left > 1:
            gap = timedelta(days=self.rng.uniform(5, 60))
            visitor.next_entry = events[-1]["occurred_at"] + gap
            visitor.visits_left -= 1
            if visitor.next_entry < END:
                heapq.heappush(self._waiting, visitor)
        for rows, column, slot in ((events, "occurred_at", 0), (out, "emitted_at", 1)):
            for row in rows:
                when = (row[column] - START).days
                target = today if when == day else self._later.setdefault(when, ([], []))
                target[slot].append(row)
        return len(events)

    def _stay(
        self,
        at: datetime,
        crossing: dict[str, Any],
        events: list[dict[str, Any]],
        out: list[dict[str, Any]],
    ) -> bool:
        """One stay entered at ``at``; whether its exit is recorded (before :data:`END`)."""
        rng = self.rng
        part = crossing["partition"]
        crossing = {**crossing, "port": rng.choice(PORTS)}
        entry = f"{rng.getrandbits(128):032x}"
        events.append(self._event(eid=entry, at=at, direction="ENTRY", **crossing))
        deadline = (at + timedelta(days=7)).replace(hour=16, minute=0, second=0, microsecond=0)
        judged: dict[str, Any] = {
            "tid": crossing["tid"],
            "deadline": deadline,
            "partition": part,
            "port": crossing["port"],
            "port_at": at,
        }
        out.append(self._emit(code="STAY_OPENED", severity="INFO", evidence=[entry],
                              observed=at, overstay=None, **judged))  # fmt: skip
        if rng.random() < 0.02:
            out.append(self._emit(code="NOT_DESIGNATED_PORT", severity="VIOLATION",
                                  evidence=[entry], observed=at, overstay=None,
                                  **{**judged, "deadline": None}))  # fmt: skip
        fate = rng.random()
        if fate < MISSING_EXIT_SHARE:
            exit_at = END + timedelta(days=1)  # never recorded
        elif fate < MISSING_EXIT_SHARE + LATE_EXIT_SHARE:
            exit_at = deadline + timedelta(seconds=rng.uniform(3600, 5 * 86400))
        else:
            exit_at = at + timedelta(seconds=rng.uniform(3600, 6 * 86400))
        if exit_at > deadline and deadline < END:
            out.append(self._emit(code="SUSPECTED_OVERSTAY", severity="VIOLATION",
                                  evidence=[entry], observed=deadline, overstay=None,
                                  **judged))  # fmt: skip
        if exit_at >= END:
            return False  # open, or suspected: no exit known at the end of the span
        if exit_at > deadline:
            out.append(self._retract(out[-1], exit_at))
            code, severity = "OVERSTAY", "VIOLATION"
            overstay: int | None = int((exit_at - deadline).total_seconds())
        else:
            code, severity, overstay = "STAY_CLOSED", "INFO", None
        exit_id = f"{rng.getrandbits(128):032x}"
        events.append(self._event(eid=exit_id, at=exit_at, direction="EXIT", **crossing))
        out.append(self._emit(code=code, severity=severity, evidence=[entry, exit_id],
                              observed=exit_at, overstay=overstay,
                              last=(crossing["port"], exit_at), **judged))  # fmt: skip
        if rng.random() < 0.01:
            out.append(self._repeat(out[-1]))
        return True

    def heartbeats(self, count: int, first_day: int, days: int) -> Rows:
        """``count`` gate heartbeats (no traveller) at random instants of the given days."""
        rows = []
        rng, template = self.rng, self._heartbeat
        begin, seconds = START + timedelta(days=first_day), days * 86400
        for i in range(count):
            part, offset = self._next(EVENTS_TOPIC, i % PARTITIONS)[1:]
            row = dict(template)
            row.update(event_id=f"hb-{part}-{offset}", port=rng.choice(PORTS),
                       occurred_at=begin + timedelta(seconds=rng.randrange(seconds)),
                       kafka_partition=part, kafka_offset=offset)  # fmt: skip
            rows.append(row)
        return rows

    def chunks(self, chunk: int) -> Iterator[tuple[Rows, Rows]]:
        """(events, decisions) in time order, in chunks of whole days of about ``chunk`` events.

        Crossings are about 1.05 emissions each, so heartbeats make up the rest of each chunk;
        the last chunk is padded with heartbeats to exactly ``events``.
        """
        share = min(1.0, self.emission_ratio / 1.05)
        per_day = self.events * share / SPAN.days
        events: Rows = []
        decisions: Rows = []
        first = 0
        for day in range(SPAN.days):
            today = self._later.pop(day, ([], []))
            self._day(day, per_day, today)
            events += today[0]
            decisions += today[1]
            last = day == SPAN.days - 1
            if len(events) / share >= chunk or last:
                size = round(len(events) / share)
                if last:
                    size = max(len(events), self.events - self.made)
                events += self.heartbeats(max(0, size - len(events)), first, day + 1 - first)
                self.made += len(events)
                self.crossings += sum(1 for e in events if e["traveller_id"])
                self.emissions += len(decisions)
                yield events, decisions
                events, decisions, first = [], [], day + 1

    def _day(self, day: int, per_day: float, today: tuple[Rows, Rows]) -> None:
        """The visits starting on ``day``: returning travellers, then newcomers up to the rate."""
        end = START + timedelta(days=day + 1)
        made = 0
        while self._waiting and self._waiting[0].next_entry < end:
            made += self._visit(heapq.heappop(self._waiting), day, today)
        while made < per_day:
            made += self._visit(self._newcomer(end - timedelta(days=1)), day, today)
