"""The worker's input messages as domain events, each heartbeat's bytes decoded once."""

from __future__ import annotations

from base.errors import LedgerError
from domain.events import Event, GateHeartbeat
from schemas.codec import decode_event
from streams.worker.state_format import keep_input_body

HEARTBEATS_KEPT = 1024  # decoded heartbeats kept by their bytes (a few per gate)


class EmptyMessageError(LedgerError):
    """A message with no value cannot carry an event."""


class InputDecoder:
    """Decodes (and validates) input messages.

    Gates send the same heartbeat message to every partition, and heartbeats are most of the
    input: the decoded (immutable) heartbeat is kept for the partitions still to see it.
    """

    def __init__(self) -> None:
        self._heartbeats: dict[bytes, GateHeartbeat] = {}  # raw message -> decoded heartbeat

    def decode(self, raw: bytes | None) -> Event:
        """The event of ``raw``; raises a LedgerError (a dead letter) when it carries none."""
        if raw is None:
            raise EmptyMessageError("message has no value (tombstone)")
        event = self._heartbeats.get(raw)
        if event is not None:
            return event
        decoded = decode_event(raw)
        if isinstance(decoded, GateHeartbeat):
            if len(self._heartbeats) >= HEARTBEATS_KEPT:
                self._heartbeats.clear()
            self._heartbeats[raw] = decoded
        else:
            keep_input_body(decoded, raw)  # the state stores the body as it came
        return decoded
