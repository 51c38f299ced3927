"""Query results as text: display cells, ClickHouse's TabSeparated form and aligned tables.

``ledger sql`` prints with it and the investigator guide renders its sample rows with the same
:func:`cell`, so a value reads the same everywhere.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any


def print_result(columns: Sequence[str], rows: Sequence[Sequence[Any]], *, tsv: bool) -> None:
    """Rows to stdout as TSV with a header, or as an aligned table with a row count on stderr."""
    if tsv:
        _print_tsv(columns, rows)
        return
    cells = [[cell(v) for v in row] for row in rows]
    _print_table(columns, cells)
    print(f"({len(cells)} row{'s' if len(cells) != 1 else ''})", file=sys.stderr)


def cell(value: Any) -> str:
    """One value as text: NULL, UTC instants to the second, arrays as ``[a,b]``."""
    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, list | tuple):
        return "[" + ",".join(cell(v) for v in value) + "]"
    return str(value)


# ClickHouse's escapes in TSV text and in quoted strings (WriteHelpers: writeAnyEscapedString).
_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "\t": "\\t",
        "\n": "\\n",
        "\r": "\\r",
        "\b": "\\b",
        "\f": "\\f",
        "\0": "\\0",
        "'": "\\'",
    }
)


def tsv_cell(value: Any) -> str:
    """One value as ClickHouse writes it in TabSeparated output (``\\N`` for NULL)."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        return value.translate(_ESCAPES)
    return _text(value)


def _quoted(value: Any) -> str:
    """A value inside an array, as ClickHouse quotes it (NULL bare, strings and instants quoted)."""
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.translate(_ESCAPES) + "'"
    if isinstance(value, datetime | date):
        return "'" + _text(value) + "'"
    return _text(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ",".join(_quoted(v) for v in value) + "]"
    return str(value)


def _print_tsv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    print("\t".join(tsv_cell(c) for c in columns))
    for row in rows:
        print("\t".join(tsv_cell(v) for v in row))


def _print_table(columns: Sequence[str], rows: list[list[str]]) -> None:
    flat = [[c.replace("\n", "\\n") for c in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in flat:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    print(" | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    print("-+-".join("-" * w for w in widths))
    for row in flat:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
