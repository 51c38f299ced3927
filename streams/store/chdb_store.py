"""The embedded backend: chDB (in-process ClickHouse) bound to ``settings.chdb_path``.

chDB runs one engine per process on one data directory, so this backend suits the single-process
main job and tests. Each store holds its own chDB session: the writer's, and the investigator's on
which ``SET readonly = 1`` is issued (a readonly session cannot lift the setting again). Query
parameters are bound by ClickHouse itself (``{name:Type}``) from values rendered in ClickHouse's
escaped text format; rows are inserted as ``FORMAT ArrowStream`` data (``streams.store.arrow``),
never spliced into SQL.
A SELECT's result is read as an Arrow table and converted column by column, with the types
``DESCRIBE`` gives; anything else, and results Arrow cannot give exactly, as ``JSONCompact``
(``streams.store.chdb_read`` says which).
"""

from __future__ import annotations

import fcntl
import importlib
import json
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from base.settings import Settings
from streams.store.arrow import arrow_stream, python_values
from streams.store.base import (
    PERMISSION_CODES,
    ColumnResult,
    QueryResult,
    ReadOnlyError,
    Role,
    Row,
    Store,
    StoreError,
    quote_identifier,
)
from streams.store.chdb_read import Converter, converter, maybe_select, reads_twice, zone_of
from streams.store.investigator_guard import investigator_limits, refusal

_CODE = re.compile(r"Code: (\d+)")


@dataclass(frozen=True, slots=True)
class _ArrowPlan:
    """A result read from Arrow: its columns' names and ClickHouse types, and how each column's
    Arrow values become Python values."""

    names: tuple[str, ...]
    types: tuple[str, ...]
    converters: list[Converter]


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
            raise StoreError(f"cannot open chDB at {path}: {_holder(path) or e}") from e
        self._types: dict[str, dict[str, str]] = {}
        self._guarded = False  # the session's own setup statements are not the investigator's
        self._execute("SET session_timezone = 'UTC'", None)
        self._use_database_if_present()
        if role == "investigator":
            # Limits first: once readonly, the session can change no setting, not even these.
            for name, value in investigator_limits(settings).items():
                literal = _quote(value) if isinstance(value, str) else str(value)
                self._execute(f"SET {name} = {literal}", None)
            self._execute("SET readonly = 1", None)
            self._guarded = True

    def _use_database_if_present(self) -> None:
        present = self._execute(
            "SELECT count() FROM system.databases WHERE name = {db:String}", {"db": self.database}
        )
        if present.rows and int(present.rows[0][0]) > 0:
            self._execute(f"USE {quote_identifier(self.database)}", None)

    def _execute(self, sql: str, params: Mapping[str, Any] | None) -> QueryResult:
        bound = {k: _param_text(v) for k, v in (params or {}).items()}
        ast = self._guard(sql, bound) if self._guarded else None
        plan = self._arrow_plan(sql, bound, ast)
        if plan is not None:
            return self._read_arrow(sql, bound, plan)
        raw = self._run(sql, bound)
        if not raw.strip():
            return QueryResult((), (), [])
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError as e:
            raise StoreError(
                "the result is not one JSON document: run one statement at a time"
            ) from e
        names = tuple(str(m["name"]) for m in doc["meta"])
        types = tuple(str(m["type"]) for m in doc["meta"])
        rows = [
            tuple(_from_json(t, v) for t, v in zip(types, row, strict=True)) for row in doc["data"]
        ]
        return QueryResult(names, types, rows)

    def _arrow_plan(
        self, sql: str, bound: Mapping[str, str], ast: list[str] | None
    ) -> _ArrowPlan | None:
        """The result's names, types and converters if it can be read from Arrow exactly and
        without running any part of it twice (see ``chdb_read``); None for ``JSONCompact``."""
        if not maybe_select(sql):
            return None
        if ast is None:
            try:
                ast = self._ast(sql, bound)
            except StoreError:
                return None  # not a statement EXPLAIN takes: the JSON path reports it
        if reads_twice(ast):
            return None
        try:  # the newline ends a trailing -- comment before the parenthesis
            described = json.loads(self._run(f"DESCRIBE ({sql}\n)", bound))["data"]
        except StoreError:
            return None  # FORMAT, INTO OUTFILE and the like: the JSON path runs or refuses it
        names = tuple(str(row[0]) for row in described)
        types = tuple(str(row[1]) for row in described)
        converters = [converter(t) for t in types]
        if not all(c is not None for c in converters):
            return None
        return _ArrowPlan(names, types, [c for c in converters if c is not None])

    def _read_arrow(self, sql: str, bound: Mapping[str, str], plan: _ArrowPlan) -> QueryResult:
        try:
            table = self._conn.query(sql, "ArrowTable", params=bound)
        except self._errors as e:
            raise _translate(e) from e
        if table.num_columns != len(plan.types):
            raise StoreError(
                f"the result has {table.num_columns} columns, DESCRIBE gave {len(plan.types)}"
            )
        columns = [
            convert(python_values(column))
            for convert, column in zip(plan.converters, table.columns, strict=True)
        ]
        return QueryResult(plan.names, plan.types, list(zip(*columns, strict=True)))

    def _stream_columns(
        self, sql: str, params: Mapping[str, Any] | None
    ) -> Generator[ColumnResult, None, None]:
        bound = {k: _param_text(v) for k, v in (params or {}).items()}
        if self._guarded:
            self._guard(sql, bound)
        try:
            with self._conn.send_query(sql, "arrowtable", params=bound) as stream:
                for table in stream:  # DateTime arrives as uint32 seconds
                    columns = [python_values(c) for c in table.columns]
                    yield ColumnResult(tuple(table.column_names), columns)
        except self._errors as e:
            raise _translate(e) from e

    def query_arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """The result as chDB's own Arrow table (strings as stored; DateTime as uint32 seconds)."""
        bound = {k: _param_text(v) for k, v in (params or {}).items()}
        with self._lock:
            if self._guarded:
                self._guard(sql, bound)
            try:
                return self._conn.query(sql, "ArrowTable", params=bound)
            except self._errors as e:
                raise _translate(e) from e

    def _run(self, sql: str, bound: Mapping[str, str], fmt: str = "JSONCompact") -> bytes:
        try:
            result = self._conn.query(sql, fmt, params=bound)
        except self._errors as e:
            raise _translate(e) from e
        return bytes(result.bytes()) if result is not None else b""

    def _guard(self, sql: str, bound: Mapping[str, str]) -> list[str]:
        """Refuse anything but one read-only statement (see ``investigator_guard``); return the
        statement's ``EXPLAIN AST`` lines."""
        try:
            self._run("SELECT formatQuerySingleLine({q:String})", {"q": _escape_text(sql)})
        except StoreError as e:
            if "Multi-statements" not in str(e):
                raise  # a syntax error, reported as the parser words it
            raise ReadOnlyError("readonly investigator session: one statement at a time") from e
        ast = self._ast(sql, bound)
        reason = refusal(ast)
        if reason is not None:
            raise ReadOnlyError(f"readonly investigator session: {reason}")
        return ast

    def _ast(self, sql: str, bound: Mapping[str, str]) -> list[str]:
        tree = json.loads(self._run(f"EXPLAIN AST {sql}", bound))
        return [str(row[0]) for row in tree["data"]]

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


def _holder(path: Path) -> str | None:
    """Why chDB could not open ``path`` if another process holds it (chDB's ``status`` file is
    locked while open and names the holder's PID); None if it is free."""
    status = path / "status"
    try:
        with status.open("rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = f.read(200).decode("ascii", "replace").partition("\n")[0]
                return (
                    f"in use by another process ({pid.strip() or 'PID unknown'}): chDB allows one "
                    "process per data directory (a second sink? several sinks need the "
                    "ClickHouse server, LEDGER_STORE=server)"
                )
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return None
    return None


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
        return datetime.strptime(str(value), "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone_of(type_name))
    if type_name.startswith("Date"):
        return date.fromisoformat(str(value))
    return value
