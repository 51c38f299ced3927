"""The migration's SQL files as statements, with each maintained table's fill derived from its view.

A maintained table (``infra/sql/001_ledger_state.sql``) is fed at insert time by a materialized
view ``T_mv``; when the table is created on a store that already has data, a fill copies what the
view would have written. The view's SELECT is written once, in the SQL file; its fill is that
SELECT guarded by the table being empty (``INSERT INTO T SELECT ... WHERE ... AND (SELECT count()
FROM T) = 0``), so a re-run inserts nothing. Emissions written before DecisionEmitted v3/v4 lack
the decision's port and instant: for the columns in :data:`LOOKED_UP` the fill takes them from the
decision's entry (its first evidence) in ``event_ports`` where the emission has none. The text
stays plain SQL of both chDB 26.x and ClickHouse 18.16 (subqueries, ``ANY LEFT JOIN ... USING``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from streams.store.errors import StoreError


@dataclass(frozen=True, slots=True)
class Lookup:
    """Fill-only fallbacks of a maintained table taken from a stored crossing (older emissions
    lack them): the crossing whose event id is in column ``key`` of the table's row."""

    key: str
    columns: dict[str, str]  # the table's column -> the event_ports column that fills it
    # The crossing's value wins over the row's (the row holds a fallback, not a NULL).
    found_first: bool = False
    # A column of the row: when ``key`` holds the same event id, nothing is looked up (the last
    # evidence is the first: the decision cites one event, whose place is not a "last" one).
    unless_same: str | None = None


_ENTRY_PLACE = {
    "entry_port": "port",
    "entered_at": "occurred_at",
    "entered_at_ms": "occurred_at_ms",
}

# Per maintained table, its fill's lookups, made in order.
LOOKED_UP: dict[str, tuple[Lookup, ...]] = {
    "decision_current": (Lookup("entry_event_id", {"port": "port"}),),
    "stay_emissions": (
        Lookup("entry_event_id", _ENTRY_PLACE, found_first=True),
        Lookup(
            "last_event_id",
            {"last_port": "port", "last_at": "occurred_at", "last_at_ms": "occurred_at_ms"},
            unless_same="entry_event_id",
        ),
    ),
}

_TABLE = re.compile(r"CREATE TABLE IF NOT EXISTS \{database\}\.(\w+)\s*\n\((.*?)\n\)", re.S)
_VIEW = re.compile(
    r"CREATE MATERIALIZED VIEW IF NOT EXISTS \{database\}\.\w+\s*\n"
    r"TO \{database\}\.(?P<table>\w+)\s*\n"
    r"AS (?P<select>SELECT\b.*?\nFROM \{database\}\.\w+)(?:\s*\nWHERE (?P<where>.*))?$",
    re.S,
)


def split_statements(text: str) -> list[str]:
    """The ``;``-terminated statements of one SQL file, ``--`` comments and blank lines dropped."""
    statements: list[str] = []
    current: list[str] = []
    for raw in text.splitlines():
        line = raw.split("--", 1)[0].rstrip()
        if not line:
            continue
        if line.endswith(";"):
            current.append(line[:-1])
            statements.append("\n".join(current))
            current = []
        else:
            current.append(line)
    if current:
        statements.append("\n".join(current))
    return statements


def with_fills(statements: list[str]) -> list[str]:
    """``statements`` with the fill of each materialized view's table right after the view."""
    columns: dict[str, list[tuple[str, str]]] = {}
    result: list[str] = []
    for statement in statements:
        result.append(statement)
        if table := _TABLE.match(statement):
            columns[table[1]] = _columns(table[2])
        elif statement.startswith("CREATE MATERIALIZED VIEW"):
            view = _VIEW.match(statement)
            if view is None:  # a view whose fill this module cannot derive: say so, never skip
                raise StoreError(f"no fill for this materialized view:\n{statement[:300]}")
            result.append(_fill(view, columns))
    return result


def _columns(block: str) -> list[tuple[str, str]]:
    """(name, type) of each column of a CREATE TABLE's column list, in order."""
    pairs = [line.strip().rstrip(",").split(None, 1) for line in block.splitlines()]
    return [(p[0], p[1]) for p in pairs if p]


def _guarded(select: str, where: str | None, table: str) -> str:
    guard = f"(SELECT count() FROM {{database}}.{table}) = 0"
    return f"{select}\nWHERE ({where})\n  AND {guard}" if where else f"{select}\nWHERE {guard}"


def _fill(view: re.Match[str], columns: dict[str, list[tuple[str, str]]]) -> str:
    table = view["table"]
    if table not in columns:
        raise StoreError(f"materialized view into {table}: its table is not created before it")
    source = _guarded(view["select"], view["where"], table)
    names = [name for name, _ in columns[table]]
    types = dict(columns[table])
    for lookup in LOOKED_UP.get(table, ()):
        source = _looked_up(source, lookup, names, types, table)
    return f"INSERT INTO {{database}}.{table}\n{source}"


def _looked_up(
    source: str, lookup: Lookup, names: list[str], types: dict[str, str], table: str
) -> str:
    """``source`` (a SELECT of the table's columns) with the columns of ``lookup`` filled in."""

    def filled(name: str) -> str:
        if name not in lookup.columns:
            return name
        found = f"found_{name}"
        if lookup.unless_same is not None:
            found = f"if({lookup.key} = {lookup.unless_same}, NULL, {found})"
        return (
            f"ifNull({found}, {name}) AS {name}"
            if lookup.found_first
            else (f"ifNull({name}, {found}) AS {name}")
        )

    def nullable(kind: str) -> str:
        return kind if kind.startswith("Nullable(") else f"Nullable({kind})"

    found = ", ".join(
        f"CAST({column} AS {nullable(types[name])}) AS found_{name}"
        for name, column in lookup.columns.items()
    )
    crossings = _guarded(
        f"SELECT traveller_id, event_id AS {lookup.key}, {found}\nFROM {{database}}.event_ports",
        "type = 'CrossingRecorded'",
        table,
    )
    outer = ", ".join(filled(name) for name in names)
    return (
        f"SELECT {outer}\nFROM (\n{source}\n) AS l\n"
        f"ANY LEFT JOIN (\n{crossings}\n) AS r USING (traveller_id, {lookup.key})"
    )
