"""The enforcement worker's batch protocol, free of Faust: decode, fold, publish, ack, write.

The Faust agent (``streams.worker.app``) is wiring: it hands each batch of input messages to
:meth:`Processor.process_batch` with a :class:`Tables` (durable bytes per partition) and a
:class:`Publisher`. For every message the batch runs exactly the domain code of ``ledger check``
(:func:`~domain.engine.apply_event` and :func:`~domain.engine.fire_due`), then

1. publishes the decision emissions and dead letters, and awaits all their acknowledgements;
2. only then writes, per partition, each traveller the batch changed once (its state, which also
   carries its ``due`` and ``prune_at`` instants) and awaits the writes' changelog
   acknowledgements (the local store is written only after them);
3. only then writes each partition's clock once, with the input offsets its stored states now
   include (``applied``: per input topic, the offset after the batch's last message), and awaits
   that too. So the batch's input offsets (acknowledged once it is durable) are never
   committed before the state they produced is durable, no local store holds a state its
   changelog lacks, and a durable ``applied`` mark implies durable states.

Step 1's sending is :meth:`Processor.step_batch`; the awaits and 2 and 3 are
:meth:`Processor.make_durable`. The agent may step the next batches while earlier ones become
durable (:mod:`streams.worker.inflight`: strictly in order, their input acknowledged to Faust
only then); they read the states of batches not yet durable from memory.

A crash between 1 and 2 re-delivers the messages to a state that has not seen them, so the same
emissions (same ``decision_id``, same content) are published again: outputs are at-least-once
and never lost, and consumers dedup on ``decision_id``.

Messages below a partition's ``applied`` mark are already in its stored states: a worker that
takes the partition over after a rebalance, or restarts, re-reads input from the last committed
offset, which lags the states by up to a commit interval. Those messages are skipped and
counted (``replayed``) instead of being applied again. Applying them again is harmless for most
events (the state already holds their ids) but not for a crossing whose history the state has
since pruned: it would look late and get ``LATE_EVENT_UNJUDGED`` where the first pass judged it.

Time is per partition. Each partition has its own event-time clock (greatest ``occurred_at`` of
the gate events seen on it, heartbeats included, minus the allowed lateness; see
:class:`~domain.clock.EventClock`); gates send heartbeats to every partition so every
clock moves even without traveller traffic. Deadlines live in a per-partition
:class:`~domain.timers.DeadlineIndex`, scanned whenever that clock advances. The heaps are
memory only: the first time a partition is touched after an assignment they are rebuilt from the
partition's stored states (which also fills the :class:`~streams.worker.cache.StateCache`), so
they survive restarts and rebalances. Decoded states are cached, so a batch reads RocksDB only
for travellers not seen since the partition was assigned.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from base.errors import LedgerError
from domain.clock import EventClock
from domain.decisions import Emission
from domain.engine import apply_event, fire_due
from domain.events import Event, GateHeartbeat
from domain.policy import Policy
from domain.state import TravellerState
from domain.timers import DeadlineIndex
from schemas.codec import encode_emission
from schemas.mapping import Coordinates
from streams.worker.batch import Counters, Message, Output, Publisher, Tables
from streams.worker.cache import DEFAULT_STATES_PER_PARTITION, StateCache
from streams.worker.guard import OutputLimits, Quarantine
from streams.worker.inflight import BatchWrites, Unflushed
from streams.worker.input_decoder import InputDecoder
from streams.worker.state_format import (
    decode_applied,
    decode_clock,
    decode_state,
    encode_clock,
    encode_state,
    is_previous_format,
)

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Pending:
    """A partition's writes of the batch in progress (latest value per key)."""

    states: dict[str, TravellerState | None] = field(default_factory=dict)
    clock: EventClock | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Processor:
    """The enforcement batch for any partition; keeps the deadline index and the state cache."""

    def __init__(
        self,
        policy: Policy,
        allowed_lateness: timedelta = timedelta(0),
        clock: Callable[[], datetime] = _utc_now,
        *,
        states_per_partition: int = DEFAULT_STATES_PER_PARTITION,
        edge: Callable[[Event, Coordinates], None] | None = None,
        outputs: OutputLimits | None = None,
    ) -> None:
        self.policy = policy
        self.allowed_lateness = allowed_lateness
        self.edge = edge  # raises EdgeViolation for events the ledger refuses (streams.edge)
        self.outputs = outputs or OutputLimits()
        self.quarantine = Quarantine()
        self.index = DeadlineIndex()
        self.cache = StateCache(states_per_partition)
        self.unflushed = Unflushed()  # batches stepped but not yet durable (see inflight)
        self.counters = Counters()
        self._wall_clock = clock  # only stamps dead letters' failed_at, never decisions
        self._tables: Tables | None = None
        self._pending: dict[int, _Pending] = {}
        self._current = _Pending()  # the writes of the message being processed
        self._applied: dict[int, dict[str, int]] = {}  # partition -> topic -> stored up to
        self._marks: dict[int, dict[str, int]] = {}  # the batch's: partition -> topic -> next
        self._decode_event = InputDecoder().decode

    def forget(self, partitions: Iterable[int] | None = None) -> None:
        """Drop what memory holds of ``partitions`` (all when None): revoked, maybe changed."""
        chosen = None if partitions is None else set(partitions)
        self.index.forget(chosen)
        self.cache.forget(chosen)
        if chosen is None:
            self._applied.clear()
        for p in chosen or ():
            self._applied.pop(p, None)

    async def process_batch(
        self, messages: Sequence[Message], tables: Tables, publisher: Publisher
    ) -> None:
        """Process, publish, await the acknowledgements, then write (see the module docstring)."""
        await self.make_durable(tables, await self.step_batch(messages, tables, publisher))

    async def step_batch(
        self, messages: Sequence[Message], tables: Tables, publisher: Publisher
    ) -> BatchWrites:
        """Process and publish a batch; returns what :meth:`make_durable` must then write.

        Later batches may be stepped before this one is durable: they read its states and
        clocks from :class:`~streams.worker.inflight.Unflushed` until then.
        """
        self._tables = tables
        self._pending, self._marks = {}, {}
        writes = BatchWrites()
        try:
            for message in messages:
                for output, key, value in self._message(message):
                    writes.acks.append(await publisher.publish(output, key, value))
            # Encoded now, while the outputs' acknowledgements are on their way.
            for partition, pending in self._pending.items():
                self._encode_states(writes, partition, pending)
            for partition, marks in self._marks.items():
                self._encode_clock(writes, partition, marks)
            self.unflushed.hold(writes)
        except BaseException:
            self.forget(set(self._pending))  # the cache may hold some of its states: re-read
            raise
        finally:
            self._pending, self._marks = {}, {}
        return writes

    async def make_durable(self, tables: Tables, writes: BatchWrites) -> None:
        """Await a stepped batch's outputs, then write its states, then its clocks (each awaited).

        So a state never reaches the changelog before the decisions it implies, and a clock's
        applied marks never get ahead of the states they vouch for.
        """
        try:
            await self._write_durably(tables, writes)
        except BaseException:
            # Memory falls back to the tables: this batch's states (and those of any batch
            # stepped on top of them, which fail after it) never became durable.
            touched = {p for p, _, _ in writes.held_states} | set(writes.clocks)
            self.unflushed.discard(touched)
            self.forget(touched)
            raise
        self._applied.update(writes.applied)
        self.unflushed.release(writes)
        self.counters.batches += 1

    async def _write_durably(self, tables: Tables, writes: BatchWrites) -> None:
        for ack in writes.acks:
            await ack  # acknowledged by the broker before the state moves on
        durable: list[Awaitable[object]] = []
        for partition, states in writes.states.items():
            durable.extend(tables.write(partition, states, None))
        for ack in durable:
            await ack  # state in the changelog before the batch's offsets can be committed
        clocks = [tables.write(p, {}, raw) for p, raw in writes.clocks.items()]
        for written in clocks:
            for ack in written:
                await ack

    def applied(self, partition: int) -> dict[str, int]:
        """Per input topic, the offset below which ``partition``'s stored states hold everything."""
        marks = self._applied.get(partition)
        if marks is None:
            if self._tables is None:
                return {}  # nothing stored to read yet: not cached
            raw = self._tables.read_clock(partition)
            marks = {} if raw is None else decode_applied(raw)
            self._applied[partition] = marks
        return marks

    def state(self, partition: int, traveller_id: str) -> TravellerState | None:
        """The traveller's current state (batch in progress, unflushed, cache, then tables)."""
        if traveller_id in self._current.states:
            return self._current.states[traveller_id]
        pending = self._pending.get(partition)
        if pending is not None and traveller_id in pending.states:
            return pending.states[traveller_id]
        if self.unflushed.has_state(partition, traveller_id):
            return self.unflushed.state(partition, traveller_id)
        cached = self.cache.state(partition, traveller_id)
        if cached is not None or self._tables is None:
            return cached
        raw = self._tables.read_state(partition, traveller_id)
        if raw is None:
            return None
        state = self._decode(raw)
        self.cache.put(partition, traveller_id, state)
        return state

    def _decode(self, raw: bytes) -> TravellerState:
        if is_previous_format(raw):
            self.counters.previous_format_states += 1
        return decode_state(raw)

    def clock(self, partition: int) -> EventClock:
        """The partition's event-time clock (batch in progress, unflushed, cache, then tables)."""
        if self._current.clock is not None:
            return self._current.clock
        pending = self._pending.get(partition)
        if pending is not None and pending.clock is not None:
            return pending.clock
        cached = self.unflushed.clock(partition)
        if cached is None:
            cached = self.cache.clock(partition)
        if cached is None:
            raw = None if self._tables is None else self._tables.read_clock(partition)
            cached = EventClock() if raw is None else decode_clock(raw)
            self.cache.put_clock(partition, cached)
        return cached

    def _message(self, message: Message) -> list[tuple[Output, bytes | None, bytes]]:
        """One message's outputs; a message that fails twice unexpectedly is quarantined.

        Bad input is a :class:`LedgerError` and a dead letter at once. Any other exception is
        a bug or a broken dependency: the message is tried once more, and if it fails again it
        goes to the dead letters with the exception (see :class:`Quarantine`), so one poison
        pill cannot stop every decision. The message's writes join the batch only if it
        succeeds: a dead-lettered message leaves the state and the clock as they were.
        """
        where = message.where
        if where.offset < self.applied(where.partition).get(where.topic, 0):
            self.counters.replayed += 1  # already in the stored states (see the module docstring)
            return []
        outputs = self.quarantine.run(
            lambda: self._step(message),
            lambda reason: [(Output.DEAD_LETTERS, where.key, self._dead_letter(message, reason))],
        )
        marks = self._marks.setdefault(where.partition, {})
        marks[where.topic] = max(marks.get(where.topic, 0), where.offset + 1)
        return outputs

    def _step(self, message: Message) -> list[tuple[Output, bytes | None, bytes]]:
        where = message.where
        self._current = _Pending()
        try:
            event = self._decode_event(message.value)
            if self.edge is not None:
                self.edge(event, where)
        except LedgerError as e:
            letter = self._dead_letter(message, f"{type(e).__name__}: {e}")
            return [(Output.DEAD_LETTERS, where.key, letter)]
        partition = where.partition
        if not self.index.loaded(partition):
            self._load_index(partition)
        current = self._current
        before = self.clock(partition)
        clock = before.observe(event, self.allowed_lateness)
        if clock is not before:
            current.clock = clock
        watermark = clock.watermark
        self.counters.processed += 1
        emissions: list[Emission] = []
        if isinstance(event, GateHeartbeat):
            self.counters.heartbeats += 1
        else:
            old = self.state(partition, event.traveller_id)
            new, emissions = apply_event(old, event, watermark, self.policy)
            self._keep(current, partition, old, new)
        if watermark is not None:
            emissions.extend(self._fire(current, partition, watermark))
        refused = self.outputs.refusal(emissions)
        if refused is not None:  # nothing of the step is kept: state and clock stay as they were
            self._current = _Pending()
            return [(Output.DEAD_LETTERS, where.key, self._dead_letter(message, refused))]
        self._join(partition, current)
        self.counters.emitted += len(emissions)
        return [
            (Output.DECISIONS, em.decision.traveller_id.encode(), encode_emission(em))
            for em in emissions
        ]

    def _join(self, partition: int, current: _Pending) -> None:
        """Add a processed message's writes to the batch's (later values replace earlier)."""
        self._current = _Pending()
        pending = self._pending.get(partition)
        if pending is None:
            self._pending[partition] = current
            return
        pending.states.update(current.states)
        if current.clock is not None:
            pending.clock = current.clock

    def _load_index(self, partition: int) -> None:
        """Rebuild the partition's deadline heaps from its stored states (and cache them)."""
        entries: dict[str, tuple[datetime | None, datetime | None]] = {}
        # Newer than the tables: batches not yet durable, then the batch in progress.
        pending = {
            **self.unflushed.states(partition),
            **self._pending.get(partition, _Pending()).states,
        }
        if self._tables is not None:
            for tid, raw in self._tables.scan_states(partition):
                state = self._decode(raw)
                if tid not in pending:  # a batch in flight holds newer states (mid-batch reload)
                    self.cache.put(partition, tid, state)
                entries[tid] = (state.due, state.prune_at)
        for tid, newer in pending.items():
            if newer is None:
                entries.pop(tid, None)
            else:
                entries[tid] = (newer.due, newer.prune_at)
        count = self.index.load(partition, ((t, d, p) for t, (d, p) in entries.items()))
        log.info("partition %d: deadline index rebuilt with %d entries", partition, count)

    def _fire(self, pending: _Pending, partition: int, watermark: datetime) -> list[Emission]:
        """Re-decide every traveller whose deadline or pruning instant the watermark passed."""

        def keep(old: TravellerState, new: TravellerState) -> None:
            self.counters.timer_firings += 1
            self._keep(pending, partition, old, new)

        return fire_due(
            self.index,
            partition,
            watermark,
            self.policy,
            load=lambda tid: self.state(partition, tid),
            keep=keep,
        )

    def _keep(
        self, pending: _Pending, partition: int, old: TravellerState | None, new: TravellerState
    ) -> None:
        if new is old:
            return
        if new.blank:  # everything pruned, nothing marked: the engine forgets the traveller
            pending.states[new.traveller_id] = None
            return
        pending.states[new.traveller_id] = new
        self.index.push(partition, old, new)

    def _encode_states(self, writes: BatchWrites, part: int, pending: _Pending) -> None:
        encoded = {
            tid: None if state is None else encode_state(state)
            for tid, state in pending.states.items()
        }
        if encoded:
            writes.states[part] = encoded
        for tid, state in pending.states.items():
            self.cache.put(part, tid, state)
            writes.held_states.append((part, tid, state))
        self.counters.state_writes += len(encoded)
        self.counters.state_bytes_written += sum(len(v) for v in encoded.values() if v)

    def _encode_clock(self, writes: BatchWrites, part: int, marks: Mapping[str, int]) -> None:
        """The partition's clock with the applied marks of every batch stepped so far."""
        clock = self.clock(part)
        before = self.unflushed.marks(part)
        applied = {**(self.applied(part) if before is None else before), **marks}
        writes.clocks[part] = encode_clock(clock, applied)
        writes.applied[part] = applied
        writes.held_clocks.append((part, clock))
        self.cache.put_clock(part, clock)

    def _dead_letter(self, message: Message, reason: str) -> bytes:
        self._current = _Pending()
        where = message.where
        self.counters.dead_lettered += 1
        log.warning(
            "dead-lettering %s[%d]@%d: %s", where.topic, where.partition, where.offset, reason
        )
        return self.outputs.dead_letter(message.value, where, reason, self._wall_clock())
