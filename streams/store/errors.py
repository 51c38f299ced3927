"""The store's errors and its one identifier check, below every backend and the DDL builders.

Backends translate their driver's errors into :class:`StoreError` (``from e``), with
:class:`ReadOnlyError` for permission refusals and :class:`StoreUnavailableError` for a broken
connection, which callers may retry. Names taken from settings reach SQL only through
:func:`quote_identifier`.
"""

from __future__ import annotations

import re

from base.errors import LedgerError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class StoreError(LedgerError):
    """The audit store refused or failed an operation."""


class ReadOnlyError(StoreError):
    """The session may only read (the investigator role) and tried to change something."""


class StoreUnavailableError(StoreError):
    """The store could not be reached or the connection broke; the operation may be retried."""


def quote_identifier(name: str) -> str:
    """``name`` back-quoted, after checking it is a plain identifier (no injection via settings)."""
    if not _IDENTIFIER.match(name):
        raise StoreError(f"not a plain identifier: {name!r}")
    return f"`{name}`"
