"""The store's row mapping: the payload JSON built in one pass equals the domain's JSON form."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime

from domain.events import event_to_json_dict, event_type
from producers.simulator import SimulationConfig, simulate
from streams.store.rows import Coordinates, current_fingerprint, event_row, payload_json


def test_payload_json_is_the_domain_json_form_of_every_event_type() -> None:
    config = SimulationConfig(
        start=date(2025, 11, 30), travellers=600, seed=11, violation_share=0.2
    )
    events = simulate(config).events
    kinds = Counter(event_type(e) for e in events)
    assert len(kinds) >= 5, kinds  # crossings, heartbeats, permits, extensions, consent...
    for event in events:
        expected = json.dumps(event_to_json_dict(event), sort_keys=True, separators=(",", ":"))
        assert payload_json(event) == expected


def test_event_row_records_the_writer_schema_fingerprint() -> None:
    event = simulate(SimulationConfig(start=date(2025, 11, 30), travellers=5, seed=3)).events[0]
    at, now = Coordinates("t", 0, 0), datetime(2026, 1, 1, tzinfo=UTC)
    default = event_row(event, at, now)["schema_fingerprint"]
    assert default == current_fingerprint(event_type(event))
    assert len(default) == 16 and int(default, 16) >= 0
    assert event_row(event, at, now, "00ff00ff00ff00ff")["schema_fingerprint"] == "00ff00ff00ff00ff"
