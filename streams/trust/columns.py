"""``ledger verify``'s column check: a row's derived columns must be what its Kafka value gives.

The sink builds every row with ``streams.store.records.record_row``; verify rebuilds it from the
stored value with the same function, so an edited ``payload`` (or any column derived from the
value) is caught although the value and its leaf hash are untouched. That rebuild (the Avro
decode, the domain event, the row and its canonical payload JSON) is what the check costs, about
30 us per row; around it a block is compared without a mapping per row: the rebuilt row's values
in column order, instants as epoch seconds (as both stores' bulk reads give a ``DateTime``),
against the stored row's values. Only a row whose values differ is compared column by column,
with the looser comparison of the row walk (which then names the column).
"""

from __future__ import annotations

import binascii
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from base.errors import LedgerError
from schemas.mapping import Coordinates
from streams.store.arrow import python_values
from streams.store.base import Table
from streams.store.records import record_row
from streams.store.rows import DeadLetterRow, DecisionRow, EventRow
from streams.trust.logs import LeafBlock, LogRef, content_columns

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ROW_TYPES = {
    Table.EVENTS: EventRow,
    Table.DECISIONS: DecisionRow,
    Table.DEAD_LETTERS: DeadLetterRow,
}


def _instant_positions(table: Table, names: tuple[str, ...]) -> tuple[int, ...]:
    """Positions in ``names`` of the columns whose row field holds an instant."""
    hints = typing.get_type_hints(_ROW_TYPES[table])
    return tuple(
        i
        for i, name in enumerate(names)
        if hints[name] is datetime or datetime in typing.get_args(hints[name])
    )


class ColumnCheck:
    """Checks the derived columns of one log's rows (see module docstring)."""

    def __init__(self, log: LogRef) -> None:
        self.log = log
        self.content = content_columns(log.table)
        self._instants = _instant_positions(log.table, self.content)

    def differing(self, offset: int, value: bytes, row: Mapping[str, Any]) -> str | None:
        """The first column of ``row`` that differs from what ``value`` derives, or None."""
        expected = self._expected(offset, value)
        if isinstance(expected, str):
            return expected
        for column in self.content:
            mine, stored = expected[column], row[column]
            if mine != stored and _norm(mine) != _norm(stored):  # e.g. datetime vs epoch seconds
                return column
        return None

    def block_matches(self, block: LeafBlock) -> bool:
        """True if every row of ``block`` with a value has the columns its value derives."""
        assert block.content is not None, "a block read without its derived columns"
        offsets: list[int] = block.column("kafka_offset")
        kept: list[int] = []  # rows with a value (an erased row has none: the leaf check decides)
        expected: list[list[Any]] = []
        for i, (offset, text) in enumerate(zip(offsets, block.column("kafka_value"), strict=True)):
            if not text:
                continue
            try:
                row = self._expected(offset, binascii.a2b_base64(text, strict_mode=True))
            except binascii.Error:
                return False
            if isinstance(row, str):
                return False
            mine = [row[c] for c in self.content]
            for at in self._instants:
                if mine[at] is not None:
                    mine[at] = int(mine[at].timestamp())
            kept.append(i)
            expected.append(mine)
        if not expected:
            return True
        stored = block.content if len(kept) == len(offsets) else block.content.take(kept)
        return _same_columns(expected, stored) or self._rows_match(expected, stored)

    def _rows_match(self, expected: list[list[Any]], stored: pa.Table) -> bool:
        """Row by row in Python values (when Arrow's comparison did not accept the block)."""
        names = self.content
        stored_rows = zip(*(python_values(stored.column(c)) for c in names), strict=True)
        for mine, theirs in zip(expected, stored_rows, strict=True):
            if tuple(mine) == theirs:
                continue
            row = dict(zip(names, theirs, strict=True))
            for column, value in zip(names, mine, strict=True):
                if value != row[column] and _norm(value) != _norm(row[column]):
                    return False
        return True

    def _expected(self, offset: int, value: bytes) -> dict[str, Any] | str:
        """The row the sink derives from ``value`` at ``offset``, or why there is none."""
        at = Coordinates(self.log.topic, self.log.partition, offset)
        try:
            return record_row(self.log.table, value, at, _EPOCH, _EPOCH)
        except LedgerError as e:
            return f"(all: the value does not decode: {e})"


def _same_columns(expected: list[list[Any]], stored: pa.Table) -> bool:
    """Do the rebuilt rows equal the stored columns, compared as Arrow arrays of the stored
    types? False also when a value does not fit its column's type (then compare in Python)."""
    for values, column in zip(zip(*expected, strict=True), stored.columns, strict=True):
        try:
            mine = pa.chunked_array([pa.array(values, type=column.type)])
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError):
            return False
        if not mine.equals(column):
            return False
    return True


def _norm(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    return value
