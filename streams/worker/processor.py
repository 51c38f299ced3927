"""One partition's enforcement step, free of Faust: decode, fold, fire due deadlines.

The Faust agent (``streams.worker.app``) hands every input message to :meth:`Processor.step`
together with its Kafka coordinates. The step runs exactly the domain code of ``ledger check``
(:func:`~streams.domain.engine.apply_event` and :func:`~streams.domain.engine.advance_watermark`)
and returns what must happen next, without doing any I/O itself:

* the decision emissions and dead letters to publish;
* the traveller states, schedule entries and the partition clock to write to the tables.

The agent publishes first, awaits the broker's acknowledgements, and only then writes the
tables (per batch of messages, through a :class:`BatchOverlay`). A crash between the two
re-delivers the messages to a state that has not seen them, so the same emissions (same
``decision_id``, same content) are published again: outputs are at-least-once and never lost,
and consumers dedup on ``decision_id``.

Time is per partition. Each partition has its own event-time clock (greatest ``occurred_at`` of
the gate events seen on it, heartbeats included, minus the allowed lateness; see
:class:`~streams.domain.clock.EventClock`); gates send heartbeats to every partition
so every clock moves even without traveller traffic. Deadlines live in a per-partition
:class:`~streams.domain.timers.DeadlineIndex` (heaps of ``(instant, traveller)``, the one
``ledger check`` uses too), scanned whenever that clock advances. The heaps are memory only;
they are rebuilt from the durable ``schedules`` table the first time a
partition is touched after an assignment, so it survives restarts and rebalances.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from schemas.codec import DeadLetter, decode_event
from streams.domain.clock import EventClock
from streams.domain.decisions import Emission
from streams.domain.engine import apply_event, fire_due
from streams.domain.errors import LedgerError
from streams.domain.events import Event, GateHeartbeat, format_instant, parse_instant
from streams.domain.policy import Policy
from streams.domain.state import TravellerState
from streams.domain.timers import DeadlineIndex
from streams.worker.guard import OutputLimits, Quarantine, source_timestamp

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Coordinates:
    """Where a message sits in Kafka."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None = None
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a traveller next needs the clock: its due deadline and its pruning instant."""

    partition: int
    due: datetime | None
    prune_at: datetime | None

    @classmethod
    def of(cls, partition: int, state: TravellerState) -> Schedule | None:
        """The schedule of ``state``; ``None`` when nothing is ever due."""
        if state.due is None and state.prune_at is None:
            return None
        return cls(partition, state.due, state.prune_at)

    def to_text(self) -> str:
        """``partition|due|prune_at``."""
        due = format_instant(self.due) if self.due else ""
        prune = format_instant(self.prune_at) if self.prune_at else ""
        return f"{self.partition}|{due}|{prune}"

    @classmethod
    def from_text(cls, text: str) -> Schedule:
        """Inverse of :meth:`to_text`."""
        partition, due, prune = text.split("|")
        return cls(
            int(partition),
            parse_instant(due, "due") if due else None,
            parse_instant(prune, "prune_at") if prune else None,
        )


class StateReader(Protocol):
    """Read access to the durable tables, as seen from the partition being processed."""

    def traveller(self, traveller_id: str) -> TravellerState | None:
        """The traveller's state, if any."""

    def clock(self, partition: int) -> EventClock:
        """The partition's event-time clock (empty if never seen)."""

    def schedules(self, partition: int) -> Iterable[tuple[str, Schedule]]:
        """Every traveller with a schedule on ``partition``."""


@dataclass(slots=True)
class Step:
    """What one input message leads to; the agent publishes, then writes."""

    emissions: list[Emission] = field(default_factory=list)
    dead_letter: bytes | None = None
    event: Event | None = None
    states: dict[str, TravellerState | None] = field(default_factory=dict)  # None: delete
    schedules: dict[str, Schedule | None] = field(default_factory=dict)  # None: delete
    clock: EventClock | None = None  # set when the partition clock moved


class BatchOverlay:
    """A :class:`StateReader` that sees a batch's not-yet-written results over the tables.

    The agent processes a batch of messages, publishes all their outputs, awaits the
    acknowledgements once, and only then writes the tables; meanwhile later messages of the batch
    must see what earlier ones decided. Per partition it keeps the latest value of every key
    touched, which is also exactly what has to be written at the end.
    """

    def __init__(self, tables: StateReader) -> None:
        self._tables = tables
        self.pending: dict[int, Step] = {}  # partition -> merged writes of the batch

    def traveller(self, traveller_id: str) -> TravellerState | None:
        for merged in self.pending.values():
            if traveller_id in merged.states:
                return merged.states[traveller_id]
        return self._tables.traveller(traveller_id)

    def clock(self, partition: int) -> EventClock:
        merged = self.pending.get(partition)
        if merged is not None and merged.clock is not None:
            return merged.clock
        return self._tables.clock(partition)

    def schedules(self, partition: int) -> Iterable[tuple[str, Schedule]]:
        merged = self.pending.get(partition)
        overlay = {} if merged is None else merged.schedules
        for tid, schedule in self._tables.schedules(partition):
            if tid not in overlay:
                yield tid, schedule
        for tid, maybe in overlay.items():
            if maybe is not None:
                yield tid, maybe

    def absorb(self, partition: int, step: Step) -> None:
        """Record ``step``'s writes (later values of a key replace earlier ones)."""
        merged = self.pending.setdefault(partition, Step())
        merged.states.update(step.states)
        merged.schedules.update(step.schedules)
        if step.clock is not None:
            merged.clock = step.clock


@dataclass(slots=True)
class Counters:
    """What a worker has done since it started (for the health endpoint)."""

    processed: int = 0
    heartbeats: int = 0
    dead_lettered: int = 0
    emitted: int = 0
    timer_firings: int = 0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Processor:
    """The enforcement step for any partition; keeps only the in-memory deadline index."""

    def __init__(
        self,
        policy: Policy,
        allowed_lateness: timedelta = timedelta(0),
        clock: Callable[[], datetime] = _utc_now,
        edge: Callable[[Event, Coordinates], None] | None = None,
        outputs: OutputLimits | None = None,
    ) -> None:
        self.policy = policy
        self.allowed_lateness = allowed_lateness
        self.edge = edge  # raises EdgeViolation for events the ledger refuses (streams.edge)
        self.outputs = outputs or OutputLimits()
        self.quarantine = Quarantine()
        self.index = DeadlineIndex()
        self.counters = Counters()
        self._wall_clock = clock  # only stamps dead letters' failed_at, never decisions

    def step(self, raw: bytes | None, where: Coordinates, tables: StateReader) -> Step:
        """Process one message; a message that fails twice unexpectedly is quarantined.

        Bad input is a :class:`LedgerError` and a dead letter at once. Any other exception is
        a bug or a broken dependency: the message is tried once more, and if it fails again it
        goes to the dead letters with the exception (see :class:`Quarantine`), so one poison
        pill cannot stop every decision.
        """
        return self.quarantine.run(
            lambda: self._step(raw, where, tables),
            lambda reason: self._dead_letter(raw, reason, where),
        )

    def _step(self, raw: bytes | None, where: Coordinates, tables: StateReader) -> Step:
        try:
            if raw is None:
                raise _EmptyMessageError("message has no value (tombstone)")
            event = decode_event(raw)
            if self.edge is not None:
                self.edge(event, where)
        except LedgerError as e:
            return self._dead_letter(raw, f"{type(e).__name__}: {e}", where)
        partition = where.partition
        if not self.index.loaded(partition):
            count = self.index.load(
                partition,
                (
                    (tid, schedule.due, schedule.prune_at)
                    for tid, schedule in tables.schedules(partition)
                    if schedule.partition == partition
                ),
            )
            log.info("partition %d: deadline index rebuilt with %d entries", partition, count)
        step = Step(event=event)
        before = tables.clock(partition)
        clock = before.observe(event, self.allowed_lateness)
        if clock != before:
            step.clock = clock
        watermark = clock.watermark
        self.counters.processed += 1
        if isinstance(event, GateHeartbeat):
            self.counters.heartbeats += 1
        else:
            old = self._state(step, tables, event.traveller_id)
            new, emissions = apply_event(old, event, watermark, self.policy)
            step.emissions.extend(emissions)
            self._keep(step, partition, old, new)
        if watermark is not None:
            self._fire(step, partition, watermark, tables)
        refused = self.outputs.refusal(step.emissions)
        if refused is not None:  # nothing of the step is kept: state and clock stay as they were
            return self._dead_letter(raw, refused, where)
        self.counters.emitted += len(step.emissions)
        return step

    def _fire(self, step: Step, partition: int, watermark: datetime, tables: StateReader) -> None:
        """Re-decide every traveller whose deadline or pruning instant the watermark passed."""

        def keep(old: TravellerState, new: TravellerState) -> None:
            self.counters.timer_firings += 1
            self._keep(step, partition, old, new)

        step.emissions.extend(
            fire_due(
                self.index,
                partition,
                watermark,
                self.policy,
                load=lambda tid: self._state(step, tables, tid),
                keep=keep,
            )
        )

    @staticmethod
    def _state(step: Step, tables: StateReader, tid: str) -> TravellerState | None:
        if tid in step.states:
            return step.states[tid]
        return tables.traveller(tid)

    def _keep(
        self, step: Step, partition: int, old: TravellerState | None, new: TravellerState
    ) -> None:
        if new is old:
            return
        tid = new.traveller_id
        if new.blank:  # everything pruned, nothing marked: the engine forgets the traveller
            step.states[tid] = None
            step.schedules[tid] = None
            return
        step.states[tid] = new
        if old is None or (old.due, old.prune_at) != (new.due, new.prune_at):
            step.schedules[tid] = Schedule.of(partition, new)
        self.index.push(partition, old, new)

    def _dead_letter(self, raw: bytes | None, reason: str, where: Coordinates) -> Step:
        self.counters.dead_lettered += 1
        log.warning(
            "dead-lettering %s[%d]@%d: %s", where.topic, where.partition, where.offset, reason
        )
        source_ts, reason = source_timestamp(where.timestamp_ms, reason)
        letter = DeadLetter(
            raw=raw or b"",
            reason=reason,
            source_topic=where.topic,
            source_partition=where.partition,
            source_offset=where.offset,
            source_timestamp=source_ts,
            failed_at=self._wall_clock(),
        )
        return Step(dead_letter=self.outputs.fit_dead_letter(letter))


class _EmptyMessageError(LedgerError):
    """A message with no value cannot carry an event."""
