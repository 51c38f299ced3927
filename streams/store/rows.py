"""Mapping of ledger values (events, emissions, dead letters) to audit-table rows.

Pure functions, no I/O: the sink calls them with the Kafka coordinates of the message the value
came from. Instants are split into a ``DateTime('UTC')`` second and a ``*_ms`` millisecond column
(see ``infra/sql``); raw dead-letter bytes are stored base64-encoded in ``raw_base64``. A decision
row holds the fields of the one record mapping (``schemas.mapping.emission_fields``).
"""

from __future__ import annotations

import base64
import functools
import json
from datetime import UTC, datetime
from typing import Any

from domain.decisions import Emission
from domain.events import (
    CrossingRecorded,
    Event,
    GateHeartbeat,
    PermitIssued,
    PermitRevoked,
    StayExtended,
    event_type,
)
from schemas.codec import current_schema, fingerprint
from schemas.mapping import Coordinates, emission_fields, event_to_json_dict


def split_instant(value: datetime) -> tuple[datetime, int]:
    """An aware instant as (UTC second, milliseconds 0..999)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: instants must be aware")
    utc = value.astimezone(UTC)
    return utc.replace(microsecond=0), utc.microsecond // 1000


def join_instant(second: datetime, ms: int) -> datetime:
    """Inverse of :func:`split_instant`: the instant in UTC with millisecond precision."""
    return second.astimezone(UTC).replace(microsecond=ms * 1000)


def _coordinates(at: Coordinates, ingested_at: datetime) -> dict[str, Any]:
    return {
        "kafka_topic": at.topic,
        "kafka_partition": at.partition,
        "kafka_offset": at.offset,
        "ingested_at": split_instant(ingested_at)[0],
        # Not a leaf of the Merkle log until the sink stamps it (streams/trust/sinklog.py).
        "leaf_index": 0,
        "leaf_hash": "",
        "kafka_value": "",
    }


def payload_json(event: Event) -> str:
    """``event_to_json_dict(event)`` as compact JSON with sorted keys (the ``payload`` column)."""
    return json.dumps(event_to_json_dict(event), sort_keys=True, separators=(",", ":"))


@functools.cache
def current_fingerprint(record: str) -> str:
    """Hex fingerprint of the current schema of ``record`` (what this process writes)."""
    return fingerprint(current_schema(record)).hex()


def event_row(
    event: Event, at: Coordinates, ingested_at: datetime, schema_fingerprint: str | None = None
) -> dict[str, Any]:
    """The ``events`` row for ``event`` (jurisdiction only when the event itself names it).

    ``schema_fingerprint`` is the hex fingerprint of the schema the message was written with
    (the sink passes the message's own); by default the current schema of the event's type.
    """
    kind = event_type(event)
    occurred, occurred_ms = split_instant(event.occurred_at)
    crossing = event if isinstance(event, CrossingRecorded) else None
    permit_id: str | None = None
    if isinstance(event, CrossingRecorded | PermitIssued | PermitRevoked):
        permit_id = event.permit_id
    port = event.port if isinstance(event, CrossingRecorded | GateHeartbeat) else None
    return {
        "event_id": event.event_id,
        "type": kind,
        "traveller_id": "" if isinstance(event, GateHeartbeat) else event.traveller_id,
        "occurred_at": occurred,
        "occurred_at_ms": occurred_ms,
        "port": port,
        "direction": crossing.direction.value if crossing else None,
        "basis": crossing.basis.value if crossing and crossing.basis else None,
        "nationality": crossing.nationality if crossing else None,
        "document": crossing.document.value if crossing else None,
        "channel": crossing.channel.value if crossing else None,
        "permit_id": permit_id,
        "jurisdiction": event.jurisdiction if isinstance(event, StayExtended) else None,
        "payload": payload_json(event),
        "schema_fingerprint": schema_fingerprint or current_fingerprint(kind),
        **_coordinates(at, ingested_at),
    }


def decision_row(
    emission: Emission, at: Coordinates, emitted_at: datetime, ingested_at: datetime
) -> dict[str, Any]:
    """The ``decisions`` row for one emission (every DOMAIN.md section 5 field, plus status).

    ``emitted_at`` is the knowledge time: the Kafka timestamp of the decision message, i.e. when
    the ledger published the emission.
    """
    row: dict[str, Any] = {}
    for name, value in emission_fields(emission).items():
        if isinstance(value, datetime):
            row[name], row[f"{name}_ms"] = split_instant(value)
        elif name in ("deadline", "port_at"):  # an instant column that is null
            row[name], row[f"{name}_ms"] = None, None
        else:
            row[name] = value
    row["emitted_at"], row["emitted_at_ms"] = split_instant(emitted_at)
    return row | _coordinates(at, ingested_at)


def dead_letter_row(
    *,
    raw: bytes,
    reason: str,
    source_topic: str,
    source_partition: int,
    source_offset: int,
    source_timestamp: datetime | None,
    failed_at: datetime,
    at: Coordinates,
    ingested_at: datetime,
) -> dict[str, Any]:
    """The ``dead_letters`` row; ``raw`` is stored base64-encoded (standard alphabet, padded)."""
    failed, failed_ms = split_instant(failed_at)
    source_ts, source_ms = split_instant(source_timestamp) if source_timestamp else (None, None)
    return {
        "source_topic": source_topic,
        "source_partition": source_partition,
        "source_offset": source_offset,
        "source_timestamp": source_ts,
        "source_timestamp_ms": source_ms,
        "reason": reason,
        "raw_base64": base64.b64encode(raw).decode("ascii"),
        "failed_at": failed,
        "failed_at_ms": failed_ms,
        **_coordinates(at, ingested_at),
    }
