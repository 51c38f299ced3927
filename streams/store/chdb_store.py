"""The embedded backend: chDB (in-process ClickHouse) bound to ``settings.chdb_path``.

chDB runs one engine per process on one data directory, so this backend suits the single-process
main job and tests. Each store holds its own chDB session: the writer's, and the investigator's on
which ``SET readonly = 1`` is issued (a readonly session cannot lift the setting again). Query
parameters are bound by ClickHouse itself (``{name:Type}``) from values rendered in ClickHouse's
escaped text format; rows are inserted as ``FORMAT ArrowStream`` data (``streams.store.arrow``),
never spliced into SQL.
Results are read as ``JSONCompact`` and converted to Python values by their declared types.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from streams.settings import Settings
from streams.store.arrow import arrow_stream
from streams.store.base import (
    PERMISSION_CODES,
    QueryResult,
    ReadOnlyError,
    Role,
    Row,
    Store,
    StoreError,
    quote_identifier,
)

_CODE = re.compile(r"Code: (\d+)")
_ZONE = re.compile(r"DateTime\('([^']+)'\)")


class ChdbStore(Store):
    """:class:`Store` over an embedded chDB session."""

    backend = "chdb"

    def __init__(self, settings: Settings, role: Role) -> None:
        super().__init__(settings, role)
        chdb: Any = importlib.import_module("chdb")  # untyped API

        self._errors: tuple[type[BaseException], ...] = (chdb.ChdbError, RuntimeError)
        path = settings.chdb_path
        try:
            path.mkdir(parents=True, exist_ok=True)
            self._conn: Any = chdb.connect(str(path))
        except (OSError, *self._errors) as e:
            raise StoreError(f"cannot open chDB at {path}: {e}") from e
        self._types: dict[str, dict[str, str]] = {}
        self._execute("SET session_timezone = 'UTC'", None)
        self._use_database_if_present()
        if role == "investigator":
            self._execute("SET readonly = 1", None)

    def _use_database_if_present(self) -> None:
        present = self._execute(
            "SELECT count() FROM system.databases WHERE name = {db:String}", {"db": self.database}
        )
        if present.rows and int(present.rows[0][0]) > 0:
            self._execute(f"USE {quote_identifier(self.database)}", None)

    def _execute(self, sql: str, params: Mapping[str, Any] | None) -> QueryResult:
        bound = {k: _param_text(v) for k, v in (params or {}).items()}
        try:
            result = self._conn.query(sql, "JSONCompact", params=bound)
        except self._errors as e:
            raise _translate(e) from e
        raw = result.bytes() if result is not None else b""
        if not raw.strip():
            return QueryResult((), (), [])
        doc = json.loads(raw)
        names = tuple(str(m["name"]) for m in doc["meta"])
        types = tuple(str(m["type"]) for m in doc["meta"])
        rows = [
            tuple(_from_json(t, v) for t, v in zip(types, row, strict=True)) for row in doc["data"]
        ]
        return QueryResult(names, types, rows)

    def _insert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        data = arrow_stream(columns, self._column_types(table), rows)
        target = f"{quote_identifier(self.database)}.{quote_identifier(table)}"
        try:
            with self._conn.send_insert(
                f"INSERT INTO {target} ({', '.join(columns)})", "ArrowStream"
            ) as inserter:
                inserter.append(data)
                inserter.finish()
        except self._errors as e:
            raise _translate(e) from e

    def _column_types(self, table: str) -> dict[str, str]:
        """ClickHouse type of each column of ``table`` (read once per table and session)."""
        types = self._types.get(table)
        if types is None:
            result = self._execute(
                "SELECT name, type FROM system.columns "
                "WHERE database = {db:String} AND table = {table:String}",
                {"db": self.database, "table": table},
            )
            types = {str(name): str(kind) for name, kind in result.rows}
            if not types:
                raise StoreError(f"table {self.database}.{table} does not exist (not migrated?)")
            self._types[table] = types
        return types

    def _after_migrate(self) -> None:
        self._types.clear()
        self._execute(f"USE {quote_identifier(self.database)}", None)

    def _close(self) -> None:
        self._conn.close()


def _translate(e: BaseException) -> StoreError:
    message = str(e)
    match = _CODE.search(message)
    if match and int(match.group(1)) in PERMISSION_CODES:
        return ReadOnlyError(message.splitlines()[0] if message else "read-only session")
    return StoreError(message.splitlines()[0] if message else type(e).__name__)


def _escape_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _param_text(value: Any) -> str:
    """A parameter in ClickHouse's escaped text format (how query parameters are parsed)."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise StoreError("naive datetime parameter: pass an aware instant")
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        items = ", ".join(_quote(v) if isinstance(v, str) else str(v) for v in value)
        return f"[{items}]"  # arrays are read in quoted form, without the escaped pass
    return _escape_text(str(value))


def _from_json(type_name: str, value: Any) -> Any:
    """Convert one JSONCompact value to Python according to its ClickHouse type."""
    if value is None:
        return None
    if type_name.startswith("Nullable(") or type_name.startswith("LowCardinality("):
        return _from_json(type_name[type_name.index("(") + 1 : -1], value)
    if type_name.startswith("Array("):
        inner = type_name[6:-1]
        return [_from_json(inner, v) for v in value]
    if type_name.startswith(("Int", "UInt")):
        return int(value)
    if type_name.startswith("Float"):
        return float(value)
    if type_name.startswith("DateTime64"):
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
    if type_name.startswith("DateTime"):
        # Rendered in the column's zone if it names one, else the session's (UTC).
        zone = _ZONE.search(type_name)
        tz = ZoneInfo(zone.group(1)) if zone else UTC
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
    if type_name.startswith("Date"):
        return date.fromisoformat(str(value))
    return value
