"""Which ClickHouse types chDB results are read from Arrow (``streams.store.chdb_read``)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from streams.store.chdb_read import converter, maybe_select


@pytest.mark.parametrize(
    "kind",
    [
        "String",
        "Nullable(String)",
        "LowCardinality(String)",
        "LowCardinality(Nullable(String))",
        "UInt8",
        "Int64",
        "UInt64",
        "Float64",
        "Bool",
        "Date",
        "Date32",
        "Array(String)",
        "Array(Nullable(String))",
        "Array(UInt32)",
    ],
)
def test_types_arrow_gives_exactly_are_taken_as_they_are(kind: str) -> None:
    convert = converter(kind)
    assert convert is not None
    assert convert([1, None, "x"]) == [1, None, "x"]


@pytest.mark.parametrize(
    ("kind", "zone"),
    [
        ("DateTime", UTC),
        ("DateTime('UTC')", ZoneInfo("UTC")),
        ("Nullable(DateTime('Asia/Shanghai'))", ZoneInfo("Asia/Shanghai")),
    ],
)
def test_datetime_seconds_become_aware_datetimes_in_the_column_zone(
    kind: str, zone: object
) -> None:
    convert = converter(kind)
    assert convert is not None
    [at, missing] = convert([1767225600, None])
    assert missing is None
    assert at == datetime(2026, 1, 1, tzinfo=UTC)
    assert at.tzinfo == zone


@pytest.mark.parametrize(
    "kind",
    [
        "DateTime64(3, 'UTC')",
        "Decimal(18, 2)",
        "UUID",
        "Enum8('a' = 1)",
        "Int128",
        "UInt256",
        "FixedString(4)",
        "Tuple(String, UInt8)",
        "Map(String, String)",
        "Array(DateTime('UTC'))",
        "Array(Array(String))",
        "Nullable(Nothing)",
        "IPv4",
    ],
)
def test_types_without_an_exact_arrow_reading_keep_the_json_path(kind: str) -> None:
    assert converter(kind) is None


@pytest.mark.parametrize(
    ("sql", "arrow"),
    [
        ("SELECT 1", True),
        ("  with q AS (SELECT 1) SELECT * FROM q", True),
        ("(SELECT 1) UNION ALL (SELECT 2)", True),
        ("-- a comment\nSELECT 1", False),
        ("SELECT 1; DROP TABLE events", False),
        ("SELECT ';'", False),
        ("INSERT INTO t SELECT 1", False),
        ("DESCRIBE events", False),
    ],
)
def test_only_single_select_texts_are_tried_as_arrow(sql: str, arrow: bool) -> None:
    assert maybe_select(sql) is arrow
