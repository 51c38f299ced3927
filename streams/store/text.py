"""Query results as text: display cells, ClickHouse's TabSeparated form and tables.

``ledger sql`` prints with it, the investigator guide renders its sample rows with the same
:func:`cell`, so a value reads the same everywhere, and :func:`render_table` is the one table
renderer: ``ledger sql``'s ``a | b`` tables, the main job's summaries (:data:`PLAIN`) and the
guide's Markdown (:data:`MARKDOWN`) differ only in their :class:`TableStyle`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class TableStyle:
    """How a table is drawn: between cells, around a row, and the rule under the header."""

    gap: str  # between two cells of a row
    rule_gap: str  # between two cells of the rule
    align: bool = True  # pad every cell to its column's width (the rule follows the widths)
    edges: tuple[str, str] = ("", "")  # before the first and after the last cell of a row
    rule_edges: tuple[str, str] = ("", "")


PLAIN: Final = TableStyle(gap="  ", rule_gap="  ")
SQL: Final = TableStyle(gap=" | ", rule_gap="-+-")
MARKDOWN: Final = TableStyle(
    gap=" | ", rule_gap="|", align=False, edges=("| ", " |"), rule_edges=("|", "|")
)


def render_table(columns: Sequence[str], rows: Sequence[Sequence[str]], style: TableStyle) -> str:
    """A header, a rule and ``rows`` (text cells, as the caller escaped them), in ``style``.

    Aligned rows lose trailing blanks; an unaligned rule is ``---`` per column (Markdown).
    """
    lines = [list(columns), *(list(row) for row in rows)]
    widths = [3] * len(columns)
    if style.align:
        widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
        lines = [[c.ljust(w) for c, w in zip(line, widths, strict=True)] for line in lines]
    left, right = style.edges
    out = [(left + style.gap.join(line) + right).rstrip() for line in lines]
    rule_left, rule_right = style.rule_edges
    out.insert(1, rule_left + style.rule_gap.join("-" * w for w in widths) + rule_right)
    return "\n".join(out)


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
    print(render_table(columns, flat, SQL))
