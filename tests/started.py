"""One way for the session fixtures to run a local service: started, or the tests FAIL (never skip).

A broker, a ClickHouse server and both clusters all start with ``start(timeout=...)`` and stop with
``stop()``; a start that raises :class:`InfraError` stops what did start and fails every test that
needs the service, with the error (which carries the log tails).

A session service is also stopped as soon as the last test that needs it has run, not at session
end: an idle three-node Kafka cluster alone keeps most of a core busy, and on CI's two cores that
slowed every test after the cluster tests. ``plan_lifetimes`` finds each service fixture's last
user once collection is final; ``stop_services_done_after`` runs after each test's teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol, TypeVar

import pytest

from infra.errors import InfraError


class Service(Protocol):
    def start(self, timeout: float) -> object: ...

    def stop(self) -> object: ...


S = TypeVar("S", bound=Service)

# Fixture name -> node id of the last collected test that needs it (directly or through another
# fixture), and fixture name -> how to stop the service it started.
_last_user: dict[str, str] = {}
_stops: dict[str, Callable[[], object]] = {}


def plan_lifetimes(items: Sequence[pytest.Item], fixtures: Sequence[str]) -> None:
    """Remember, for each of ``fixtures``, the last of ``items`` (in run order) that uses it."""
    _last_user.clear()
    for item in items:
        for name in fixtures:
            if name in getattr(item, "fixturenames", ()):
                _last_user[name] = item.nodeid


def stop_services_done_after(item: pytest.Item) -> None:
    """Stop every service whose last user was ``item`` (a later test never asks for it again)."""
    for name, last in _last_user.items():
        if last == item.nodeid and name in _stops:
            _stops.pop(name)()


@contextmanager
def started(service: S, what: str, timeout: float, fixture: str | None = None) -> Iterator[S]:
    """``service`` running for the ``with`` block and stopped after it; fail if it cannot start.

    With ``fixture`` (the session fixture's name) it is also stopped right after the last test
    that uses that fixture; stopping twice is harmless (``stop`` reports what was running).
    """
    try:
        service.start(timeout=timeout)
    except InfraError as e:
        service.stop()
        pytest.fail(f"{what} did not start: {e}", pytrace=False)
    if fixture is not None:
        _stops[fixture] = service.stop
    try:
        yield service
    finally:
        if fixture is not None:
            _stops.pop(fixture, None)
        service.stop()
