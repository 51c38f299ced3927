"""Synthetic audit-store rows for ``make bench-audit``: a year and a half of crossings.

Rows are built directly as the sink would hand them to ``Store.insert`` (every column of
``streams.store.COLUMNS``, copied from a row the real ``rows`` functions made, so a column added
to the DDL is present here too), because building 100 million domain events and decisions one
by one would take hours. The shape follows what the worker publishes for travellers with a few
stays each: a STAY_OPENED per entry; per exit a STAY_CLOSED, or a SUSPECTED_OVERSTAY at the
deadline that the late exit retracts with an OVERSTAY; the last stay open, or suspected with no
exit; a few entry violations; about 1 % of emissions published twice (the at-least-once
worker). Gate heartbeats fill the events up to the asked number, so emissions are about 0.3 of
events as in the issue's year. Deterministic for a given seed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.decisions import Code, Decision, Emission, Severity, Status
from domain.events import Channel, CrossingRecorded, Direction, Document, GateHeartbeat
from streams.store.rows import Coordinates, decision_row, event_row

START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=540)
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

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._crossing, self._heartbeat, self._decision = _templates()
        self.ingested = START.replace(year=2026)
        self._beats: list[tuple[datetime, str]] = []

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
    ) -> dict[str, Any]:
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
            emitted_at=emitted.replace(microsecond=0),
            emitted_at_ms=emitted.microsecond // 1000,
            kafka_topic=topic,
            kafka_partition=part,
            kafka_offset=offset,
            ingested_at=self.ingested,
        )
        self.emissions += 1
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
        self.emissions += 1
        return row

    def _repeat(self, issued: dict[str, Any]) -> dict[str, Any]:
        row = dict(issued)
        row["kafka_offset"] = self._next(DECISIONS_TOPIC, issued["kafka_partition"])[2]
        self.emissions += 1
        return row

    def traveller(self, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """One traveller's crossings and emissions (a few stays, the last one maybe open)."""
        rng = self.rng
        tid = f"trv-{rng.getrandbits(64):016x}"
        part = n % PARTITIONS
        nat = rng.choice(NATIONALITIES)
        events: list[dict[str, Any]] = []
        out: list[dict[str, Any]] = []
        at = START + timedelta(seconds=rng.uniform(0, SPAN.total_seconds() * 0.4))
        stays = rng.randint(2, 8)
        for s in range(stays):
            port = rng.choice(PORTS)
            entry = f"{rng.getrandbits(128):032x}"
            crossing: dict[str, Any] = {"tid": tid, "port": port, "nat": nat, "partition": part}
            events.append(self._event(eid=entry, at=at, direction="ENTRY", **crossing))
            deadline = (at + timedelta(days=7)).replace(hour=16, minute=0, second=0, microsecond=0)
            judged: dict[str, Any] = {"tid": tid, "deadline": deadline, "partition": part}
            out.append(self._emit(code="STAY_OPENED", severity="INFO", evidence=[entry],
                                  observed=at, overstay=None, **judged))  # fmt: skip
            if rng.random() < 0.02:
                out.append(self._emit(code="NOT_DESIGNATED_PORT", severity="VIOLATION",
                                      evidence=[entry], observed=at, overstay=None,
                                      tid=tid, deadline=None, partition=part))  # fmt: skip
            last, fate = s == stays - 1, rng.random()
            if last and fate < 0.3:
                break  # still in the country, deadline ahead or not yet judged
            if (last and fate < 0.4) or fate < 0.05:
                out.append(self._emit(code="SUSPECTED_OVERSTAY", severity="VIOLATION",
                                      evidence=[entry], observed=deadline, overstay=None,
                                      **judged))  # fmt: skip
                if last:
                    break  # suspected, no exit known
                exit_at = deadline + timedelta(seconds=rng.uniform(3600, 5 * 86400))
                out.append(self._retract(out[-1], exit_at))
                code, severity = "OVERSTAY", "VIOLATION"
                overstay: int | None = int((exit_at - deadline).total_seconds())
            else:
                exit_at = at + timedelta(seconds=rng.uniform(3600, 6 * 86400))
                code, severity, overstay = "STAY_CLOSED", "INFO", None
            exit_id = f"{rng.getrandbits(128):032x}"
            events.append(self._event(eid=exit_id, at=exit_at, direction="EXIT", **crossing))
            out.append(self._emit(code=code, severity=severity, evidence=[entry, exit_id],
                                  observed=exit_at, overstay=overstay, **judged))  # fmt: skip
            if rng.random() < 0.01:
                out.append(self._repeat(out[-1]))
            at = exit_at + timedelta(days=rng.uniform(5, 60))
        self.crossings += len(events)
        if len(self.travellers) < 1000:
            self.travellers.append(tid)
        return events, out

    def heartbeats(self, count: int) -> list[dict[str, Any]]:
        """``count`` gate heartbeats spread over the span (no traveller; instants from a pool)."""
        if not self._beats:
            seconds = SPAN.total_seconds()
            self._beats = [
                (START + timedelta(seconds=int(self.rng.uniform(0, seconds))), p)
                for _ in range(4096)
                for p in (self.rng.choice(PORTS),)
            ]
        rows = []
        template, pool = self._heartbeat, self._beats
        for i in range(count):
            at, port = pool[(i * 7919 + self.emissions) % len(pool)]
            part, offset = self._next(EVENTS_TOPIC, i % PARTITIONS)[1:]
            row = dict(template)
            row.update(event_id=f"hb-{part}-{offset}", occurred_at=at, port=port,
                       kafka_partition=part, kafka_offset=offset)  # fmt: skip
            rows.append(row)
        return rows

    def chunks(self, chunk: int) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        """(events, decisions) in chunks of about ``chunk`` events until ``events`` are made.

        Crossings are about 1.05 emissions each, so heartbeats make up the rest of each chunk.
        """
        made, n = 0, 0
        crossing_share = min(1.0, self.emission_ratio / 1.05)
        while made < self.events:
            size = min(chunk, self.events - made)
            events: list[dict[str, Any]] = []
            decisions: list[dict[str, Any]] = []
            while len(events) < size * crossing_share:
                e, d = self.traveller(n)
                n += 1
                events += e
                decisions += d
            events += self.heartbeats(max(0, size - len(events)))
            made += len(events)
            yield events, decisions
