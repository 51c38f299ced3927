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

from streams.store.errors import StoreError

# Fill-only fallbacks, per maintained table: its column -> the event_ports column of the
# decision's entry that fills it when the stored emission lacks it (older emissions).
LOOKED_UP: dict[str, dict[str, str]] = {
    "decision_current": {"port": "port"},
    "stay_decisions": {
        "entry_port": "port",
        "entered_at": "occurred_at",
        "entered_at_ms": "occurred_at_ms",
    },
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
    looked_up = LOOKED_UP.get(table)
    if not looked_up:
        return f"INSERT INTO {{database}}.{table}\n{source}"
    types = dict(columns[table])
    outer = ", ".join(
        f"ifNull({name}, found_{name}) AS {name}" if name in looked_up else name
        for name, _ in columns[table]
    )
    found = ", ".join(
        f"CAST({column} AS {types[name]}) AS found_{name}" for name, column in looked_up.items()
    )
    entries = _guarded(
        f"SELECT traveller_id, event_id AS entry_event_id, {found}\nFROM {{database}}.event_ports",
        None,
        table,
    )
    return (
        f"INSERT INTO {{database}}.{table}\nSELECT {outer}\nFROM (\n{source}\n) AS l\n"
        f"ANY LEFT JOIN (\n{entries}\n) AS r USING (traveller_id, entry_event_id)"
    )
