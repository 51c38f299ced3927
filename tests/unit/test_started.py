"""The session fixtures' ``started()``: a service that cannot start FAILS its tests, never skips."""

from __future__ import annotations

import pytest

from infra.errors import InfraError
from tests.started import started


class Recorder:
    def __init__(self, error: str | None = None) -> None:
        self.error = error
        self.calls: list[str] = []

    def start(self, timeout: float) -> object:
        self.calls.append(f"start {timeout:.0f}")
        if self.error is not None:
            raise InfraError(self.error)
        return True

    def stop(self) -> object:
        self.calls.append("stop")
        return True


def test_a_node_that_cannot_start_fails_the_test_with_the_error_and_is_stopped() -> None:
    node = Recorder("Kafka node(s) [1] exited during startup")
    # Failed, not Skipped; the body never runs.
    with pytest.raises(pytest.fail.Exception) as failed, started(node, "Kafka cluster", 240):
        raise AssertionError("the body must not run")
    assert not isinstance(failed.value, pytest.skip.Exception)
    assert "Kafka cluster did not start: Kafka node(s) [1] exited during startup" in str(
        failed.value
    )
    assert node.calls == ["start 240", "stop"]


def test_a_started_service_is_stopped_after_its_block() -> None:
    node = Recorder()
    with started(node, "ClickHouse cluster", 60) as running:
        assert running is node and node.calls == ["start 60"]
    assert node.calls == ["start 60", "stop"]
