"""``DecisionEmitted`` and ``HeldDecision`` bodies assembled field by field.

Every emission is encoded once for the decisions topic and, while it holds, once more inside its
traveller's state. fastavro's generic writer took about 11 µs for each; these fixed layouts are the
join of :mod:`schemas.avro_binary` pieces, byte for byte what fastavro writes (checked on
simulated and edge-case decisions in ``tests/unit/test_decision_body.py``). The layouts are
checked against the schemas at import, so a schema change that this module does not follow
fails loudly instead of writing records that do not match their fingerprint.
"""

from __future__ import annotations

from typing import Any, Final

from domain.decisions import Code, Decision, Emission, Severity, Status
from schemas.avro_binary import (
    write_count,
    write_instant,
    write_optional_instant,
    write_optional_long,
    write_optional_string,
    write_string,
    write_strings,
)

_INSTANT: Final = ("long", "timestamp-millis")
# The decision's own fields as both records hold them, from code to detail.
_CORE: Final = (
    ("code", "enum:Code"),
    ("severity", "enum:Severity"),
    ("jurisdiction", ("null", "string")),
    ("rule", "string"),
    ("evidence", ("array", "string")),
    ("deadline", ("null", _INSTANT)),
    ("overstay_seconds", ("null", "long")),
    ("observed_at", _INSTANT),
    ("detail", "string"),
)
EMISSION_LAYOUT: Final = (
    ("decision_id", "string"),
    ("status", "enum:Status"),
    ("traveller_id", "string"),
    *_CORE,
    ("port", ("null", "string")),
    ("port_at", ("null", _INSTANT)),
    ("last_port", ("null", "string")),
    ("last_at", ("null", _INSTANT)),
)
HELD_LAYOUT: Final = (("decision_id", "string"), *_CORE)


def _shape(kind: Any) -> Any:
    """A field type reduced to what decides its binary form (names and docs left out)."""
    if isinstance(kind, list):
        return tuple(_shape(k) for k in kind)
    if isinstance(kind, str):
        return kind
    if kind["type"] == "enum":
        return "enum:" + kind["name"].rsplit(".", 1)[-1]
    if kind["type"] == "array":
        return ("array", _shape(kind["items"]))
    if "logicalType" in kind:
        return (kind["type"], kind["logicalType"])
    return _shape(kind["type"])


def layout_of(record: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """A record schema's fields as ``(name, shape)``, in order."""
    return tuple((f["name"], _shape(f["type"])) for f in record["fields"])


def enum_symbols(record: dict[str, Any]) -> dict[str, list[str]]:
    """The record's enums by short name: their symbols, in index order."""
    out: dict[str, list[str]] = {}
    for f in record["fields"]:
        kind = f["type"]
        if isinstance(kind, dict) and kind["type"] == "enum":
            out[kind["name"].rsplit(".", 1)[-1]] = list(kind["symbols"])
    return out


class DecisionBodies:
    """Writes decision bodies for the enum symbol order of a given ``DecisionEmitted`` schema."""

    def __init__(self, emission_schema: dict[str, Any], held_schema: dict[str, Any]) -> None:
        for name, schema, layout in (
            ("DecisionEmitted", emission_schema, EMISSION_LAYOUT),
            ("HeldDecision", held_schema, HELD_LAYOUT),
        ):
            if layout_of(schema) != layout:
                raise ImportError(f"{name} changed: update schemas/decision_body.py to match it")
        symbols = enum_symbols(emission_schema)
        if enum_symbols(held_schema) != {k: symbols[k] for k in ("Code", "Severity")}:
            raise ImportError("HeldDecision's enums differ from DecisionEmitted's")
        self._status = {Status(s): write_count(i) for i, s in enumerate(symbols["Status"])}
        self._code = {Code(s): write_count(i) for i, s in enumerate(symbols["Code"])}
        self._severity = {Severity(s): write_count(i) for i, s in enumerate(symbols["Severity"])}

    def _core(self, d: Decision) -> bytes:
        return b"".join(
            (
                self._code[d.code],
                self._severity[d.severity],
                write_optional_string(d.jurisdiction),
                write_string(d.rule),
                write_strings(d.evidence),
                write_optional_instant(d.deadline),
                write_optional_long(d.overstay_seconds),
                write_instant(d.observed_at),
                write_string(d.detail),
            )
        )

    def emission(self, em: Emission) -> bytes:
        """The ``DecisionEmitted`` body of ``em``."""
        d = em.decision
        return b"".join(
            (
                write_string(d.decision_id),
                self._status[em.status],
                write_string(d.traveller_id),
                self._core(d),
                write_optional_string(em.port),
                write_optional_instant(em.port_at),
                write_optional_string(em.last_port),
                write_optional_instant(em.last_at),
            )
        )

    def held(self, d: Decision) -> bytes:
        """The ``HeldDecision`` body of ``d`` (a state item: its traveller is the state's)."""
        return write_string(d.decision_id) + self._core(d)
