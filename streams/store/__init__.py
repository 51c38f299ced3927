"""The ClickHouse audit store: one contract (:class:`Store`), chDB and server backends.

Import :func:`open_store` to get a backend from settings; backends load their drivers lazily.
"""

from streams.store.base import (
    COLUMNS,
    QueryResult,
    ReadOnlyError,
    Role,
    Store,
    StoreError,
    StoreUnavailableError,
    Table,
)
from streams.store.opening import open_store, opened_store

__all__ = [
    "COLUMNS",
    "QueryResult",
    "ReadOnlyError",
    "Role",
    "Store",
    "StoreError",
    "StoreUnavailableError",
    "Table",
    "open_store",
    "opened_store",
]
