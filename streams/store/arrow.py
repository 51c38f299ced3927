"""Rows to an Arrow IPC stream, typed by the ClickHouse columns they are inserted into.

The chDB backend inserts with ``FORMAT ArrowStream``: the rows of a batch become one Arrow
record batch, column by column, so no value is rendered as text or JSON on the way in (a JSON
payload column travels as the string it already is). The Arrow type of each column is derived
from its ClickHouse type as the table declares it (``system.columns``), so a column added to the
DDL needs no change here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from streams.store.errors import StoreError

_SCALARS: dict[str, pa.DataType] = {
    "String": pa.string(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Int8": pa.int8(),
    "Int16": pa.int16(),
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Date": pa.date32(),
}


def arrow_type(clickhouse_type: str) -> pa.DataType:
    """The Arrow type a value of ``clickhouse_type`` is sent as (nullability is per array)."""
    t = clickhouse_type
    if t.startswith("Nullable(") or t.startswith("LowCardinality("):
        return arrow_type(t[t.index("(") + 1 : -1])
    if t.startswith("Array("):
        return pa.list_(arrow_type(t[6:-1]))
    if t.startswith("DateTime64"):
        raise StoreError(f"unsupported column type {t} (the DDL uses DateTime + _ms)")
    if t.startswith("DateTime"):
        return pa.timestamp("s", tz="UTC")
    if t.startswith("FixedString("):
        return pa.binary(int(t[12:-1]))
    scalar = _SCALARS.get(t)
    if scalar is None:
        raise StoreError(f"no Arrow mapping for column type {t}")
    return scalar


def arrow_stream(
    columns: Sequence[str], types: Mapping[str, str], rows: Sequence[Mapping[str, Any]]
) -> bytes:
    """``rows`` (mappings over ``columns``) as one Arrow IPC stream with one record batch."""
    arrays = []
    fields = []
    for name in columns:
        kind = arrow_type(types[name])
        values = [row[name] for row in rows]
        try:
            arrays.append(pa.array(values, type=kind))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as e:
            raise StoreError(f"column {name} ({types[name]}): {e}") from e
        fields.append(pa.field(name, kind, nullable=types[name].startswith("Nullable(")))
    batch = pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def python_values(column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """A result column as Python values; strings that are not UTF-8 are decoded with replacement."""
    try:
        return column.to_pylist()  # type: ignore[no-any-return]
    except UnicodeDecodeError:
        binary = column.cast(pa.binary()) if pa.types.is_string(column.type) else column
        return [None if v is None else v.decode("utf-8", "replace") for v in binary.to_pylist()]
