"""Project error hierarchy.

Every error the ledger raises on purpose derives from :class:`LedgerError`, so the stream layer can
catch exactly the project's errors (dead-letter one message, go on) and let anything else stop the
worker loudly.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error the ledger raises deliberately."""


class InvalidEventError(LedgerError):
    """An event (JSON line, Avro record or mapping) breaks the event contract.

    ``field`` names the offending field (dotted for nested values), or ``None`` when the whole
    record is at fault (for example an unknown ``type``).
    """

    def __init__(self, field: str | None, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class PolicyError(LedgerError):
    """Policy reference data is missing, malformed or inconsistent."""
