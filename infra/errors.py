"""The one error type of the infra package: a local service could not be fetched or started."""

from __future__ import annotations

from base.errors import LedgerError


class InfraError(LedgerError):
    """A local service (Kafka, ClickHouse) could not be installed, started, reached or stopped."""
