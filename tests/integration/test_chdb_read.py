"""chDB results read from Arrow give exactly what the ``JSONCompact`` reading gives.

A SELECT is read as Arrow when ``streams.store.chdb_read`` finds that exact; a text starting
with a comment always takes the ``JSONCompact`` path, so the same query through both paths is
compared value for value, type for type, in order, including each datetime's zone.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from base.settings import Settings
from streams.store import Store, StoreError, open_store
from streams.store.chdb_read import reads_twice

pytestmark = pytest.mark.integration

JSON_PATH = "/* read as JSONCompact */ "

EVERY_TYPE = """
SELECT number AS n,
       toString(number) AS s,
       if(number % 2 = 0, NULL, concat('x', toString(number))) AS ns,
       toLowCardinality(concat('lc', toString(number % 3))) AS lc,
       toInt8(-number) AS i8, toUInt16(number * 1000) AS u16, toUInt32(4000000000) AS u32,
       toInt64(-9000000000000000000) + number AS i64, toUInt64(18446744073709551615) AS u64,
       number / 3 AS f64, toFloat32(1.5) AS f32, number % 2 = 0 AS b,
       toDate('2026-02-28') + number AS d, toDate32('1950-01-01') AS d32,
       toDateTime(1767225600 + number * 3607) AS dt,
       toDateTime(1767225600 + number, 'UTC') AS dt_utc,
       toDateTime(1767225600 + number, 'Asia/Shanghai') AS dt_sh,
       if(number = 1, NULL, toDateTime(1767225600, 'UTC')) AS dt_null,
       ['a', concat('b', toString(number))] AS strings, [toUInt32(number), 7] AS ints,
       CAST([] AS Array(String)) AS empty, [NULL, 'z'] AS nullable_strings,
       'tab\tnewline\nquote\\'' AS escaped
FROM numbers(4)
ORDER BY n DESC
"""


@pytest.fixture
def store(base_settings: Settings, chdb_dir: Path) -> Iterator[Store]:
    database = f"read_{uuid.uuid4().hex[:8]}"
    settings = base_settings.with_overrides(
        store="chdb", chdb_path=chdb_dir, clickhouse_database=database
    )
    opened = open_store(settings, "writer")
    opened.migrate()
    yield opened
    opened.query(f"DROP DATABASE IF EXISTS {database}")
    opened.close()


def _shape(rows: list[tuple[Any, ...]]) -> list[list[str]]:
    """Rows as the reprs of their values: equal reprs mean the same value, type and zone."""
    return [[repr(v) for v in row] for row in rows]


def test_every_type_read_from_arrow_equals_the_json_reading(store: Store) -> None:
    arrow = store.query(EVERY_TYPE)
    json = store.query(JSON_PATH + EVERY_TYPE)
    assert arrow.columns == json.columns
    assert arrow.types == json.types
    assert _shape(arrow.rows) == _shape(json.rows)
    assert arrow.rows[0][0] == 3  # ORDER BY kept
    assert str(arrow.rows[0][arrow.columns.index("dt_sh")].tzinfo) == "Asia/Shanghai"


def test_a_large_ordered_result_keeps_its_order_across_arrow_batches(store: Store) -> None:
    sql = (
        "SELECT number, toDateTime(number, 'UTC') AS at, toString(number) AS s "
        "FROM numbers(200000) ORDER BY number DESC"
    )
    arrow = store.query(sql)
    assert _shape(arrow.rows) == _shape(store.query(JSON_PATH + sql).rows)
    assert [row[0] for row in arrow.rows[:3]] == [199999, 199998, 199997]


def test_an_empty_result_keeps_its_columns_and_types(store: Store) -> None:
    sql = "SELECT toDateTime(0, 'UTC') AS at, 'x' AS s FROM numbers(3) WHERE number > 5"
    arrow = store.query(sql)
    assert arrow.columns == ("at", "s")
    assert arrow.types == ("DateTime('UTC')", "String")
    assert arrow.rows == []


def test_views_read_the_same_on_both_paths(store: Store) -> None:
    views = store.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'View' "
        "ORDER BY name",
        {"db": store.database},
    )
    assert len(views.rows) >= 8
    for (name,) in views.rows:
        arrow, json = (
            store.query(f"SELECT * FROM {name}"),
            store.query(f"{JSON_PATH}SELECT * FROM {name}"),
        )
        assert (arrow.columns, arrow.types) == (json.columns, json.types), name


@pytest.mark.parametrize(
    ("sql", "twice"),
    [
        ("SELECT 1", False),
        ("SELECT * FROM (SELECT 1 AS a) AS t JOIN (SELECT 1 AS a) AS u USING a", False),
        ("WITH q AS (SELECT 1 AS z) SELECT * FROM q", False),
        ("SELECT (SELECT max(number) FROM numbers(10)) AS m", True),
        ("WITH (SELECT 3) AS k SELECT k", True),
        ("SELECT number FROM numbers(5) WHERE number = (SELECT 2)", True),
        ("SELECT number FROM numbers(5) WHERE number IN (SELECT 2)", True),
        ("EXPLAIN SELECT 1", True),
        ("SHOW TABLES", True),
    ],
)
def test_describe_is_skipped_where_it_would_run_part_of_the_query(
    store: Store, sql: str, twice: bool
) -> None:
    ast = store._ast(sql, {})  # type: ignore[attr-defined]  # chDB's own parser
    assert reads_twice(ast) is twice
    assert store.query(sql).columns  # and the query itself still answers


def test_a_scalar_subquery_answers_through_the_json_path(store: Store) -> None:
    sql = "SELECT toDateTime((SELECT max(number) FROM numbers(10)), 'UTC') AS at"
    assert _shape(store.query(sql).rows) == _shape(store.query(JSON_PATH + sql).rows)


def test_a_writer_multi_statement_text_runs_each_statement_once(store: Store) -> None:
    store.query("CREATE TABLE runs (n UInt8) ENGINE = Memory")
    with contextlib.suppress(StoreError):  # whether it answers is not the point here
        store.query("SELECT 1; INSERT INTO runs VALUES (1)")
    assert store.query("SELECT count() FROM runs").rows == [(1,)]
