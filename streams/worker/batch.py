"""The types of the worker's batch protocol (see :mod:`streams.worker.processor`).

An input :class:`Message`, where an :class:`Output` goes, the durable :class:`Tables` and the
:class:`Publisher` a batch is processed with, and the :class:`Counters` a processor keeps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from schemas.mapping import Coordinates


@dataclass(frozen=True, slots=True)
class Message:
    """One input message as the agent received it (its key is in its coordinates)."""

    value: bytes | None
    where: Coordinates


class Output(Enum):
    """Where an output goes."""

    DECISIONS = "decisions"
    DEAD_LETTERS = "deadletters"


class Tables(Protocol):
    """Durable per-partition storage: traveller states and the partition clock, as bytes."""

    def read_state(self, partition: int, traveller_id: str) -> bytes | None:
        """The stored state of a traveller of ``partition``."""

    def read_clock(self, partition: int) -> bytes | None:
        """The stored clock of ``partition``."""

    def scan_states(self, partition: int) -> Iterable[tuple[str, bytes]]:
        """Every stored state of ``partition``."""

    def write(
        self, partition: int, states: Mapping[str, bytes | None], clock: bytes | None
    ) -> Sequence[Awaitable[object]]:
        """Store a batch's writes for ``partition`` (a None state deletes; a None clock keeps).

        Returns what resolves once the writes are durable (their changelog acknowledgements);
        a store that survives a crash must not hold them before that (see ``faust_tables``).
        """


class Publisher(Protocol):
    """Hands outputs to the broker."""

    async def publish(self, output: Output, key: bytes | None, value: bytes) -> Awaitable[object]:
        """Send one output; returns what resolves when the broker acknowledged it."""


@dataclass(slots=True)
class Counters:
    """What a worker has done since it started (for the health endpoint)."""

    processed: int = 0
    heartbeats: int = 0
    dead_lettered: int = 0
    emitted: int = 0
    timer_firings: int = 0
    batches: int = 0
    state_writes: int = 0
    state_bytes_written: int = 0
    previous_format_states: int = 0  # read in the former JSON format (rewritten when changed)
    replayed: int = 0  # re-delivered messages the stored states already included (skipped)
