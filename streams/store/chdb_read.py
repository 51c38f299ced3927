"""How chDB results become Python values: column by column from Arrow where that is exact.

A result read as ``JSONCompact`` costs ClickHouse a JSON rendering of every value and Python a
parse of it (at 70,903 rows of ``suspected_overstayers``: 3 s, against 0.39 s for the query).
Read as an Arrow table, each column is converted in one pass, so the same result costs a fifth.
Arrow alone cannot say which ``uint32`` column is a ``DateTime`` (ClickHouse sends ``DateTime``
as seconds), so the result's ClickHouse types come first from ``DESCRIBE (query)``, which
analyses the query without reading any table.

Except for one thing: ClickHouse evaluates *scalar* subqueries while it analyses a query, so a
``DESCRIBE`` of ``... WHERE x = (SELECT max(..) FROM events)`` would run that subquery twice.
:func:`reads_twice` finds such subqueries in ``EXPLAIN AST`` (a subquery that is not a table of
a ``FROM``/``JOIN`` or a ``WITH`` element), and those queries keep the ``JSONCompact`` path, as do
results with a type :func:`converter` has no exact Arrow reading for (``DateTime64``, ``Decimal``,
``UUID``, ``Enum``, tuples, maps, arrays of anything but strings and integers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from streams.store.investigator_guard import AstNode

Converter = Callable[[list[Any]], list[Any]]

_ZONE = re.compile(r"DateTime\('([^']+)'\)")
_INTEGERS = frozenset(
    f"{sign}Int{bits}" for sign in ("", "U") for bits in (8, 16, 32, 64)
)  # 128 and 256 bits: Arrow sends them as fixed-size binary
_AS_IS = _INTEGERS | {"String", "Float32", "Float64", "Bool", "Date", "Date32"}
_TABLE_PARENTS = frozenset({"TableExpression", "WithElement"})


def _same(values: list[Any]) -> list[Any]:
    return values


def _instants(zone: tzinfo) -> Converter:
    """DateTime seconds to aware datetimes in the column's zone (UTC if it names none), as the
    ``JSONCompact`` reading gives them."""

    def convert(values: list[Any]) -> list[Any]:
        return [None if v is None else datetime.fromtimestamp(v, zone) for v in values]

    return convert


def zone_of(datetime_type: str) -> tzinfo:
    """The zone a ``DateTime`` column's values are given in, on either reading: the one its type
    names, else UTC (the session's)."""
    zone = _ZONE.search(datetime_type)
    return ZoneInfo(zone.group(1)) if zone else UTC


def _unwrapped(clickhouse_type: str) -> str:
    """The type inside any ``Nullable(..)`` and ``LowCardinality(..)``."""
    t = clickhouse_type
    while t.startswith(("Nullable(", "LowCardinality(")):
        t = t[t.index("(") + 1 : -1]
    return t


def converter(clickhouse_type: str) -> Converter | None:
    """How a column of ``clickhouse_type`` read from Arrow (``to_pylist``) becomes the values the
    ``JSONCompact`` reading gives; None if there is no exact Arrow reading of the type."""
    t = _unwrapped(clickhouse_type)
    if t in _AS_IS:
        return _same
    if t == "DateTime" or (t.startswith("DateTime(") and _ZONE.fullmatch(t)):
        return _instants(zone_of(t))
    if t.startswith("Array("):
        inner = _unwrapped(t[6:-1])
        return _same if inner in _INTEGERS or inner == "String" else None
    return None


def reads_twice(ast_lines: Sequence[str]) -> bool:
    """Whether ``DESCRIBE`` of this statement would execute part of it: true for anything but a
    SELECT, and for a SELECT with a subquery outside ``FROM``/``JOIN``/``WITH`` (scalar
    subqueries are evaluated during analysis; ``IN (SELECT ..)`` is kept out too)."""
    nodes = [AstNode.parse(line) for line in ast_lines if line.strip()]
    if not nodes or nodes[0].kind != "SelectWithUnionQuery":
        return True
    stack: list[AstNode] = []
    for node in nodes:
        while stack and stack[-1].depth >= node.depth:
            stack.pop()
        if node.kind == "Subquery" and (not stack or stack[-1].kind not in _TABLE_PARENTS):
            return True
        stack.append(node)
    return False


def maybe_select(sql: str) -> bool:
    """A first look before anything is sent: only a statement starting with SELECT, WITH or
    ``(`` can take the Arrow path (anything else, even a SELECT after a comment, keeps
    ``JSONCompact``), and never a text with a ``;``: chDB runs every statement of a
    multi-statement text, so ``EXPLAIN AST`` of one would run the statements after the first."""
    head = sql.lstrip()[:6].upper()
    return head.startswith(("SELECT", "WITH", "(")) and ";" not in sql
