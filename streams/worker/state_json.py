"""The worker's previous table format: a traveller state as JSON (format 1), read on upgrade.

Workers before the Avro state format (``streams.worker.state_format``) stored each traveller's
state as compact JSON of :func:`state_to_dict`. A worker restarted on such a changelog reads
those values with :func:`state_from_dict` (validating every field, as it was then) and rewrites
them in Avro when the traveller next changes. :func:`state_to_dict` stays to describe, and test,
exactly what the previous workers wrote.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from base.errors import InvalidEventError
from domain.decisions import Decision
from domain.event_data import event_from_mapping, parse_instant
from domain.events import GateHeartbeat, TravellerEvent, format_instant
from domain.state import TravellerState
from schemas.mapping import decision_fields, decision_from_fields, event_to_json_dict

STATE_FORMAT = 1


def _instant(value: datetime | None) -> str | None:
    return None if value is None else format_instant(value)


def _parse_opt_instant(value: Any, field: str) -> datetime | None:
    return None if value is None else parse_instant(value, field)


def decision_to_dict(d: Decision) -> dict[str, Any]:
    """A decision as JSON-ready values (the record mapping with instants as text)."""
    return decision_fields(d, format_instant)


def decision_from_dict(d: dict[str, Any]) -> Decision:
    """Inverse of :func:`decision_to_dict`."""
    try:
        return decision_from_fields(d, instant=parse_instant, text=str)
    except (KeyError, ValueError, TypeError) as e:
        raise InvalidEventError("decisions", f"malformed decision in state: {e}") from e


def state_to_dict(state: TravellerState) -> dict[str, Any]:
    """The state as JSON-serialisable values (exact round trip with :func:`state_from_dict`)."""
    return {
        "format": STATE_FORMAT,
        "traveller_id": state.traveller_id,
        "events": [event_to_json_dict(e) for e in state.events],
        "decisions": [decision_to_dict(d) for d in state.decisions],
        "due": _instant(state.due),
        "prune_at": _instant(state.prune_at),
        "forgotten": {jur: format_instant(at) for jur, at in state.forgotten},
    }


def state_from_dict(d: dict[str, Any]) -> TravellerState:
    """Rebuild a state written by :func:`state_to_dict`; raises InvalidEventError if malformed."""
    if d.get("format") != STATE_FORMAT:
        raise InvalidEventError("format", f"unsupported state format {d.get('format')!r}")
    forgotten = d.get("forgotten") or {}
    if not isinstance(forgotten, dict):
        raise InvalidEventError("forgotten", "expected a mapping of jurisdiction to instant")
    events: list[TravellerEvent] = []
    for raw in d.get("events", []):
        event = event_from_mapping(raw)
        if isinstance(event, GateHeartbeat):
            raise InvalidEventError("events", "a heartbeat cannot be part of a traveller's state")
        events.append(event)
    try:
        return TravellerState(
            traveller_id=str(d["traveller_id"]),
            events=tuple(events),
            decisions=tuple(decision_from_dict(x) for x in d.get("decisions", [])),
            due=_parse_opt_instant(d.get("due"), "due"),
            prune_at=_parse_opt_instant(d.get("prune_at"), "prune_at"),
            # absent in states written before the mark existed: nothing was marked then
            forgotten=tuple(
                sorted((str(j), parse_instant(at, "forgotten")) for j, at in forgotten.items())
            ),
        )
    except ValueError as e:  # a decision about another traveller, refused by the state
        raise InvalidEventError("decisions", str(e)) from e
