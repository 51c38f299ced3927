"""The ``TravellerState`` record: the worker's table value, built from the event schemas.

A traveller's state holds its known events, so its schema embeds the current record schema of
every traveller event (every event but the heartbeat) and the ``Code`` and ``Severity`` enums of
``DecisionEmitted``. ``TravellerState.avsc`` is that expansion written out, so the codec treats it
like any other record (fingerprint, ``history/``, resolution of older writers). When an event or
decision schema changes, ``tests/unit/test_schemas.py`` fails until the state schema is
regenerated (``python -m schemas.state_schema``) and added to ``history/`` as a new version.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

SCHEMA_DIR: Final = Path(__file__).resolve().parent
STATE_RECORD: Final = "TravellerState"
# Every event a traveller's state can hold, in the union's branch order (never reorder: a
# branch's index is what the binary form stores; new events go at the end).
STATE_EVENTS: Final = (
    "CrossingRecorded",
    "PermitIssued",
    "PermitRevoked",
    "StayExtended",
    "BiometricConsentRecorded",
    "PreRegistrationRecorded",
)
_INSTANT: Final = {"type": "long", "logicalType": "timestamp-millis"}


def _raw(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text(encoding="utf-8"))
    return loaded


def _decision_enum(name: str) -> dict[str, Any]:
    for field in _raw("DecisionEmitted")["fields"]:
        if isinstance(field["type"], dict) and field["type"].get("name") == name:
            enum: dict[str, Any] = field["type"]
            return enum
    raise LookupError(f"DecisionEmitted has no enum {name}")


def _optional(name: str, kind: Any, doc: str) -> dict[str, Any]:
    return {"name": name, "type": ["null", kind], "default": None, "doc": doc}


def build_state_schema() -> dict[str, Any]:
    """The ``TravellerState`` schema for the current event and decision schemas."""
    held = {
        "type": "record",
        "name": "HeldDecision",
        "doc": "A decision currently held true (its traveller is the state's).",
        "fields": [
            {"name": "decision_id", "type": "string"},
            {"name": "code", "type": _decision_enum("Code")},
            {"name": "severity", "type": _decision_enum("Severity")},
            {"name": "jurisdiction", "type": ["null", "string"], "default": None},
            {"name": "rule", "type": "string"},
            {"name": "evidence", "type": {"type": "array", "items": "string"}},
            {"name": "deadline", "type": ["null", _INSTANT], "default": None},
            {"name": "overstay_seconds", "type": ["null", "long"], "default": None},
            {"name": "observed_at", "type": _INSTANT},
            {"name": "detail", "type": "string"},
        ],
    }
    forgotten = {
        "type": "record",
        "name": "ForgottenUpTo",
        "fields": [
            {"name": "jurisdiction", "type": "string"},
            {"name": "up_to", "type": _INSTANT},
        ],
    }
    return {
        "type": "record",
        "name": STATE_RECORD,
        "namespace": "border.ledger",
        "doc": "What the enforcement worker keeps about one traveller (its table value).",
        "fields": [
            {"name": "traveller_id", "type": "string"},
            _optional("due", _INSTANT, "Next instant a watermark advance can change decisions."),
            _optional("prune_at", _INSTANT, "Watermark at which pruning can next forget events."),
            {
                "name": "events",
                "type": {"type": "array", "items": [_raw(name) for name in STATE_EVENTS]},
                "doc": "The known history, sorted as the engine keeps it.",
            },
            {"name": "decisions", "type": {"type": "array", "items": held}},
            {
                "name": "forgotten",
                "type": {"type": "array", "items": forgotten},
                "default": [],
                "doc": "Per jurisdiction, the instant up to which pruning forgot history.",
            },
        ],
    }


def render() -> str:
    """The schema as the ``.avsc`` file holds it."""
    return json.dumps(build_state_schema(), indent=2) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
