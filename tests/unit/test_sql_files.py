"""The maintained tables' fills are derived from their views' SELECTs (one source)."""

from __future__ import annotations

import re

import pytest

from streams.store.base import MAINTAINED_TABLES, ddl_statements
from streams.store.errors import StoreError
from streams.store.sql_files import LOOKED_UP, split_statements, with_fills

DB = "`ledger`"


def _view_and_fill(table: str) -> tuple[str, str]:
    statements = ddl_statements("ledger")
    (at,) = [
        i
        for i, s in enumerate(statements)
        if s.startswith(f"CREATE MATERIALIZED VIEW IF NOT EXISTS {DB}.{table}_mv\n")
    ]
    return statements[at], statements[at + 1]


@pytest.mark.parametrize("table", MAINTAINED_TABLES)
def test_each_view_is_followed_by_the_fill_of_its_table_built_from_its_select(table: str) -> None:
    view, fill = _view_and_fill(table)
    assert fill.startswith(f"INSERT INTO {DB}.{table}\n")
    select = view.split("\nAS ", 1)[1]
    head, _, where = select.partition("\nWHERE ")
    assert head in fill  # the view's SELECT list and source, verbatim
    if where:
        assert f"WHERE ({where})\n" in fill
    # Every table the fill reads is read only while the target is empty.
    reads = re.findall(rf"\nFROM {re.escape(DB)}\.(\w+)", fill)
    guards = fill.count(f"(SELECT count() FROM {DB}.{table}) = 0")
    assert reads and guards == len(reads)


@pytest.mark.parametrize("table", sorted(LOOKED_UP))
def test_older_emissions_take_the_looked_up_columns_from_their_crossings(table: str) -> None:
    _, fill = _view_and_fill(table)
    assert f"\nFROM {DB}.event_ports\nWHERE (type = 'CrossingRecorded')\n" in fill
    lookups = LOOKED_UP[table]
    assert fill.endswith(f") AS r USING (traveller_id, {lookups[-1].key})")
    for lookup in lookups:
        assert f") AS r USING (traveller_id, {lookup.key})" in fill
        for column, source in lookup.columns.items():
            found = f"found_{column}"
            if lookup.unless_same:
                found = f"if({lookup.key} = {lookup.unless_same}, NULL, {found})"
            pair = f"{found}, {column}" if lookup.found_first else f"{column}, {found}"
            assert f"ifNull({pair}) AS {column}" in fill
            assert re.search(rf"CAST\({source} AS Nullable\(.+?\)\) AS found_{column}\b", fill)


def test_a_stay_emission_takes_its_entry_from_the_crossing_and_its_exit_only_if_another() -> None:
    (entry, last) = LOOKED_UP["stay_emissions"]
    assert entry.key == "entry_event_id" and entry.found_first  # the row holds a fallback
    assert last.key == "last_event_id" and last.unless_same == "entry_event_id"


def test_the_sql_files_hold_no_fill_of_their_own() -> None:
    fills = [s for s in ddl_statements("ledger") if s.startswith("INSERT INTO")]
    assert len(fills) == len(MAINTAINED_TABLES)  # one per view, all derived


def test_a_view_of_another_form_is_refused_rather_than_left_unfilled() -> None:
    text = """
        CREATE TABLE IF NOT EXISTS {database}.t
        (
            a String
        )
        ENGINE = MergeTree() ORDER BY a;
        CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.t_mv
        TO {database}.t
        AS SELECT a FROM {database}.s GROUP BY a;
    """
    statements = [s.strip() for s in split_statements(text)]
    statements = [re.sub(r"\n\s+", "\n", s) for s in statements]
    with pytest.raises(StoreError, match="no fill"):
        with_fills(statements)


def test_a_view_before_its_table_is_refused() -> None:
    view = "CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.t_mv\nTO {database}.t\n"
    with pytest.raises(StoreError, match="not created before"):
        with_fills([view + "AS SELECT a\nFROM {database}.s"])
