"""One way for the session fixtures to run a local service: started, or the tests FAIL (never skip).

A broker, a ClickHouse server and both clusters all start with ``start(timeout=...)`` and stop with
``stop()``; a start that raises :class:`InfraError` stops what did start and fails every test that
needs the service, with the error (which carries the log tails).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TypeVar

import pytest

from infra.errors import InfraError


class Service(Protocol):
    def start(self, timeout: float) -> object: ...

    def stop(self) -> object: ...


S = TypeVar("S", bound=Service)


@contextmanager
def started(service: S, what: str, timeout: float) -> Iterator[S]:
    """``service`` running for the ``with`` block and stopped after it; fail if it cannot start."""
    try:
        service.start(timeout=timeout)
    except InfraError as e:
        service.stop()
        pytest.fail(f"{what} did not start: {e}", pytrace=False)
    try:
        yield service
    finally:
        service.stop()
