"""Batches whose outputs are sent but whose writes are not yet durable, and their ordering.

A batch's CPU work (decode, fold, publish) and its durability (await the outputs' acks, then the
states' changelog acks, then the clock's) are split, so the worker can process the next batch
while the broker acknowledges the last one; the round trips were a sixth of a batch's wall time
at 2,000 entries/s, with the event loop idle through them (``make bench-stream``).

* :class:`BatchWrites` is what a processed batch still has to make durable: its outputs' acks,
  its states and clocks, already encoded when the batch ended (later batches change the live
  objects, never these bytes).
* :class:`Unflushed` holds the states and clocks of batches not yet durable. Reads see them
  before the cache and the tables: the cache is bounded and may drop one, and the tables do not
  have them yet. An entry leaves once its batch is durable, unless a later batch replaced it.
* :class:`DurabilityChain` makes batches durable strictly in the order they were processed, so a
  traveller's changelog records keep their order and a clock never vouches for states written
  after it, with at most ``depth`` batches in flight. A batch that fails fails every batch after
  it: none of them is acknowledged, and the caller stops the worker.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from domain.clock import EventClock
from domain.state import TravellerState


@dataclass(slots=True)
class BatchWrites:
    """What a processed batch still has to make durable, in this order."""

    acks: list[Awaitable[object]] = field(default_factory=list)  # its outputs' acknowledgements
    states: dict[int, dict[str, bytes | None]] = field(default_factory=dict)  # None: delete
    clocks: dict[int, bytes] = field(default_factory=dict)  # encoded with the applied marks
    applied: dict[int, dict[str, int]] = field(default_factory=dict)  # what those marks say
    # The live objects behind the bytes, released from Unflushed once durable.
    held_states: list[tuple[int, str, TravellerState | None]] = field(default_factory=list)
    held_clocks: list[tuple[int, EventClock]] = field(default_factory=list)


_ABSENT = object()


class Unflushed:
    """States, clocks and applied marks of batches processed but not yet durable."""

    def __init__(self) -> None:
        self._states: dict[int, dict[str, TravellerState | None]] = {}
        self._clocks: dict[int, EventClock] = {}
        self._marks: dict[int, dict[str, int]] = {}  # the latest batch's, durable or not

    def has_state(self, partition: int, traveller_id: str) -> bool:
        return traveller_id in self._states.get(partition, ())

    def state(self, partition: int, traveller_id: str) -> TravellerState | None:
        """The unflushed state (None: deleted); call only when :meth:`has_state`."""
        return self._states[partition][traveller_id]

    def states(self, partition: int) -> dict[str, TravellerState | None]:
        """Every unflushed state of ``partition`` (a copy)."""
        return dict(self._states.get(partition, {}))

    def clock(self, partition: int) -> EventClock | None:
        return self._clocks.get(partition)

    def marks(self, partition: int) -> dict[str, int] | None:
        """The applied marks of the latest batch processed on ``partition``, if any."""
        return self._marks.get(partition)

    def hold(self, writes: BatchWrites) -> None:
        """Keep ``writes``' states, clocks and marks until :meth:`release`."""
        for partition, tid, state in writes.held_states:
            self._states.setdefault(partition, {})[tid] = state
        for partition, clock in writes.held_clocks:
            self._clocks[partition] = clock
        for partition, applied in writes.applied.items():
            self._marks[partition] = applied

    def release(self, writes: BatchWrites) -> None:
        """Drop ``writes``' entries (now durable) that no later batch replaced."""
        for partition, tid, state in writes.held_states:
            states = self._states.get(partition)
            if states is not None and states.get(tid, _ABSENT) is state:
                del states[tid]
        for partition, clock in writes.held_clocks:
            if self._clocks.get(partition) is clock:
                del self._clocks[partition]
        for partition, applied in writes.applied.items():
            if self._marks.get(partition) is applied:
                del self._marks[partition]

    def discard(self, partitions: set[int]) -> None:
        """Drop everything held of ``partitions``: a batch of theirs failed to become durable."""
        for p in partitions:
            self._states.pop(p, None)
            self._clocks.pop(p, None)
            self._marks.pop(p, None)


class DurabilityChain:
    """Runs each batch's durability after the previous batch's, with at most ``depth`` pending."""

    def __init__(self, depth: int) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.depth = depth
        self._pending: deque[asyncio.Future[None]] = deque()
        self._failed: BaseException | None = None  # once one failed, nothing more is taken

    async def submit(self, durable: Callable[[], Awaitable[None]]) -> asyncio.Future[None]:
        """Queue ``durable`` after every batch submitted before; returns its future.

        Returns once fewer than ``depth`` batches are pending (raising if one of those awaited
        failed): with depth 1, only once this batch is durable.
        """
        if self._failed is not None:
            raise self._failed
        previous = self._pending[-1] if self._pending else None

        async def run() -> None:
            if previous is not None:
                # Raises if it failed: nothing after a failed batch is durable. Shielded, as
                # below: cancelling a waiter must not cancel a batch becoming durable.
                await asyncio.shield(previous)
            await durable()

        task = asyncio.ensure_future(run())
        self._pending.append(task)
        while len(self._pending) >= self.depth:
            await self._await_oldest()
        while self._pending and self._pending[0].done():  # surface a failure early
            await self._await_oldest()
        return task

    async def _await_oldest(self) -> None:
        oldest = self._pending[0]
        try:
            await asyncio.shield(oldest)
        except asyncio.CancelledError:
            if not oldest.done():  # this waiter was cancelled; the batch goes on
                raise
            self._failed = asyncio.CancelledError("an earlier batch was cancelled")
            self._pending.popleft()
            raise
        except BaseException as e:
            self._failed = e
            self._pending.popleft()
            for later in self._pending:  # they fail with it: the first failure is the one raised
                later.add_done_callback(_retrieved)
            raise
        self._pending.popleft()

    @property
    def pending(self) -> int:
        """Batches submitted and not yet awaited here (done or not)."""
        return len(self._pending)

    async def settle(self, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) for every pending batch, failed or not, raising nothing:
        for a stopping agent, whose failures the tasks' own callbacks reported."""
        if self._pending:
            await asyncio.wait(list(self._pending), timeout=timeout)

    async def drain(self) -> None:
        """Await every pending batch (raises the first failure)."""
        while self._pending:
            await self._await_oldest()


def _retrieved(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()
