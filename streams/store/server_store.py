"""The server backend: clickhouse-server (18.16 on these machines) over the native protocol.

Uses clickhouse-driver 0.2.11. The server predates query parameters, so a ``{name:Type}``
placeholder is rewritten to ``CAST(%(name)s AS Type)`` and the value is escaped by the driver:
the SQL text is the same as on chDB and the value keeps the declared type. Inserts go through the
driver's typed ``INSERT ... VALUES`` path with the rows handed over column by column
(``columnar=True``: native blocks, no per-row conversion, no SQL splicing). The investigator
role connects as the server's readonly ``investigator`` user, so the server enforces it.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from base.credentials import require_configured_secrets
from base.settings import Settings
from streams.store.base import (
    PERMISSION_CODES,
    ColumnResult,
    QueryResult,
    ReadOnlyError,
    Role,
    Row,
    Store,
    StoreError,
    StoreUnavailableError,
    quote_identifier,
)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*):([^{}]+)\}")
# Server-side codes worth retrying: network/socket problems and back-pressure (TOO_MANY_PARTS);
# on a cluster also a replica or ZooKeeper away (ALL_CONNECTION_TRIES_FAILED, NO_ZOOKEEPER,
# TABLE_IS_READ_ONLY, TOO_FEW_LIVE_REPLICAS, UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE,
# UNKNOWN_STATUS_OF_INSERT, KEEPER_EXCEPTION): the sink then re-checks what is stored and retries.
_BLOCK_ROWS = 65_536  # rows per block of a streamed read (the server's default block size)
_RETRYABLE_CODES = frozenset({159, 209, 210, 252, 225, 242, 279, 285, 286, 319, 999})


class ServerStore(Store):
    """:class:`Store` over a ClickHouse server session."""

    backend = "server"

    def __init__(self, settings: Settings, role: Role) -> None:
        super().__init__(settings, role)
        from clickhouse_driver import Client, errors

        self._driver_errors = errors
        if role == "investigator":
            user, password = settings.investigator_user, settings.investigator_password
        else:
            user, password = settings.clickhouse_user, settings.clickhouse_password
        secret = "investigator_password" if role == "investigator" else "clickhouse_password"
        require_configured_secrets(settings, f"the ClickHouse {role} session", (secret,))
        common: dict[str, Any] = {
            "host": settings.clickhouse_host,
            "port": settings.clickhouse_port,
            "user": user,
            "password": password,
            "connect_timeout": 5,
            "send_receive_timeout": 60,
        }
        self._client: Any = Client(database=self.database, **common)
        # Before migration the database may not exist; DDL names it explicitly instead.
        self._bootstrap: Any = Client(database="", **common)
        self._migrating = False

    def migrate(self) -> None:
        """Create the database and tables if missing (idempotent)."""
        self._migrating = True
        try:
            super().migrate()
        finally:
            self._migrating = False

    def _execute(self, sql: str, params: Mapping[str, Any] | None) -> QueryResult:
        client = self._bootstrap if self._migrating else self._client
        sql, bound = _bind(sql, params)
        try:
            rows, column_types = client.execute(sql, bound, with_column_types=True)
        except (self._driver_errors.Error, EOFError, OSError) as e:
            raise self._translate(e) from e
        names = tuple(str(n) for n, _ in column_types)
        types = tuple(str(t) for _, t in column_types)
        zone = self._server_zone(client)
        return QueryResult(
            names,
            types,
            [
                tuple(_normalise(t, v, zone) for t, v in zip(types, row, strict=True))
                for row in rows
            ],
        )

    def _stream_columns(
        self, sql: str, params: Mapping[str, Any] | None
    ) -> Generator[ColumnResult, None, None]:
        sql, bound = _bind(sql, params)
        finished = False
        try:
            rows = self._client.execute_iter(sql, bound, with_column_types=True)
            names, kinds = zip(*next(rows), strict=True)  # the first item: (name, type) pairs
            zone = self._server_zone(self._client) or UTC
            while block := list(islice(rows, _BLOCK_ROWS)):
                columns = [
                    [_epoch_seconds(v, zone) for v in values] if "DateTime" in kind else values
                    for values, kind in zip(map(list, zip(*block, strict=True)), kinds, strict=True)
                ]
                yield ColumnResult(tuple(str(n) for n in names), columns)
            finished = True
        except (self._driver_errors.Error, EOFError, OSError) as e:
            raise self._translate(e) from e
        finally:
            if not finished:  # a stream left half read would block the connection
                self._client.disconnect()

    def _insert(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        target = f"{quote_identifier(self.database)}.{quote_identifier(table)}"
        data = [[_insert_value(row[c]) for row in rows] for c in columns]
        try:
            self._client.execute(
                f"INSERT INTO {target} ({', '.join(columns)}) VALUES", data, columnar=True
            )
        except (self._driver_errors.Error, EOFError, OSError) as e:
            raise self._translate(e) from e

    def _close(self) -> None:
        self._client.disconnect()
        self._bootstrap.disconnect()

    def _server_zone(self, client: Any) -> ZoneInfo | None:
        info = getattr(client.connection, "server_info", None)
        if info is None:
            return None
        try:
            return ZoneInfo(info.get_timezone())
        except (KeyError, ValueError):
            return None

    def _translate(self, e: BaseException) -> StoreError:
        errors = self._driver_errors
        first = str(e).strip().splitlines()
        message = " ".join(first[:2]).split(" Stack trace:")[0] if first else type(e).__name__
        if isinstance(e, errors.ServerException):
            if e.code in PERMISSION_CODES:
                return ReadOnlyError(message)
            if e.code in _RETRYABLE_CODES:
                return StoreUnavailableError(message)
            return StoreError(message)
        if isinstance(e, errors.NetworkError | errors.SocketTimeoutError | EOFError | OSError):
            return StoreUnavailableError(
                f"ClickHouse at {self.settings.clickhouse_host}:{self.settings.clickhouse_port} "
                f"unreachable: {message}"
            )
        if isinstance(e, errors.Error) and getattr(e, "code", None) in _RETRYABLE_CODES:
            return StoreUnavailableError(message)
        return StoreError(message)


def _bind(sql: str, params: Mapping[str, Any] | None) -> tuple[str, dict[str, Any] | None]:
    """``{name:Type}`` placeholders as the driver's escaped ``CAST(%(name)s AS Type)``."""
    if not params:
        return sql, None
    sql = _PLACEHOLDER.sub(r"CAST(%(\1)s AS \2)", sql.replace("%", "%%"))
    return sql, {k: _param(v) for k, v in params.items()}


def _epoch_seconds(value: Any, zone: Any) -> Any:
    """A DateTime the driver returns (naive: in the server's zone) as seconds since the epoch."""
    if not isinstance(value, datetime):
        return value
    return int((value if value.tzinfo else value.replace(tzinfo=zone)).timestamp())


def _param(value: Any) -> Any:
    # The driver would render an aware datetime in the server's zone; the CAST target type
    # decides the zone, so pass UTC text (ledger columns are DateTime('UTC')).
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise StoreError("naive datetime parameter: pass an aware instant")
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, tuple):
        return list(value)
    return value


def _insert_value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        raise StoreError("naive datetime in a row: instants must be aware")
    if isinstance(value, tuple):
        return list(value)
    return value


def _normalise(type_name: str, value: Any, zone: ZoneInfo | None) -> Any:
    """Aware datetimes everywhere: a zone-less DateTime is in the server's zone."""
    if isinstance(value, datetime) and value.tzinfo is None and "DateTime" in type_name:
        return value.replace(tzinfo=zone or UTC)
    if isinstance(value, tuple) and type_name.startswith("Array("):
        return list(value)
    return value
