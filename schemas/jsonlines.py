"""Events from JSON lines, the CLI form of the event contract (DOMAIN.md sections 3 and 6).

One reader serves ``ledger check``, ``ledger stay`` and ``ledger publish``: every valid line
becomes a domain event, and every bad line becomes a :class:`LineError` naming the line and the
field, handed to the caller's callback, so the remaining lines are still processed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from base.errors import InvalidEventError
from domain.event_data import event_from_mapping
from domain.events import Event


@dataclass(frozen=True, slots=True)
class LineError:
    """A line that is not a valid event: its 1-based number, the field at fault, and why."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


def read_events(lines: Iterable[str], on_error: Callable[[LineError], None]) -> Iterator[Event]:
    """Valid events of ``lines`` in order; blank lines are ignored, bad ones reported."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            on_error(LineError(number, "json", f"{e.msg} at column {e.colno}"))
            continue
        if not isinstance(data, dict):
            on_error(LineError(number, "json", "expected an object"))
            continue
        try:
            yield event_from_mapping(data)
        except InvalidEventError as e:
            on_error(LineError(number, e.field or "event", e.reason))
