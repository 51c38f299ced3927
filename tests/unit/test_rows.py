"""The store's row mapping: the payload JSON (built in one pass) is the event's JSON form."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any

from domain.event_data import event_from_mapping
from domain.events import Event, event_to_mapping, event_type
from producers.simulator import SimulationConfig, simulate
from schemas.mapping import Coordinates, event_to_json_dict
from streams.store.rows import current_fingerprint, event_row, payload_json


def _reference_json_form(event: Event) -> dict[str, Any]:
    """The JSON form built in two steps: the domain's plain mapping, then instants and dates."""
    out = event_to_mapping(event)
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = value.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
        elif isinstance(value, date):
            out[key] = value.isoformat()
    return out


def test_payload_json_is_the_json_form_of_every_event_type() -> None:
    config = SimulationConfig(
        start=date(2025, 11, 30), travellers=600, seed=11, violation_share=0.2
    )
    events = simulate(config).events
    kinds = Counter(event_type(e) for e in events)
    assert len(kinds) >= 5, kinds  # crossings, heartbeats, permits, extensions, consent...
    for event in events:
        reference = _reference_json_form(event)
        assert event_to_json_dict(event) == reference
        assert list(event_to_json_dict(event)) == list(reference)  # contract order
        assert payload_json(event) == json.dumps(reference, sort_keys=True, separators=(",", ":"))
        assert event_from_mapping(json.loads(payload_json(event))) == event


def test_event_row_records_the_writer_schema_fingerprint() -> None:
    event = simulate(SimulationConfig(start=date(2025, 11, 30), travellers=5, seed=3)).events[0]
    at, now = Coordinates("t", 0, 0), datetime(2026, 1, 1, tzinfo=UTC)
    default = event_row(event, at, now)["schema_fingerprint"]
    assert default == current_fingerprint(event_type(event))
    assert len(default) == 16 and int(default, 16) >= 0
    assert event_row(event, at, now, "00ff00ff00ff00ff")["schema_fingerprint"] == "00ff00ff00ff00ff"
