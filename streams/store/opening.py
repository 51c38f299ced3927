"""Opening a store: picks the chDB or server backend from settings (above both backends).

Backends load their drivers lazily, so importing this module stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from base.settings import Settings
from streams.store.base import Role, Store
from streams.store.errors import StoreError


def open_store(settings: Settings, role: Role = "writer", store: str | None = None) -> Store:
    """Open the backend named by ``store`` (default ``settings.store``) in ``role``.

    ``writer`` may migrate and insert; ``investigator`` is read-only (the server's readonly user,
    or chDB's ``readonly`` setting on that session).
    """
    kind = store or settings.store
    if role not in ("writer", "investigator"):
        raise StoreError(f"unknown role {role!r}")
    if kind == "chdb":
        from streams.store.chdb_store import ChdbStore

        return ChdbStore(settings, role)
    if kind == "server":
        from streams.store.server_store import ServerStore

        return ServerStore(settings, role)
    raise StoreError(f"unknown store {kind!r} (expected 'chdb' or 'server')")


@contextmanager
def opened_store(
    settings: Settings, role: Role = "writer", store: str | None = None
) -> Iterator[Store]:
    """:func:`open_store` as a context manager that closes the store on exit."""
    s = open_store(settings, role, store)
    try:
        yield s
    finally:
        s.close()
