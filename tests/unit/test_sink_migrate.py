"""The sink migrates its store as it starts, unless that store object was migrated already."""

from __future__ import annotations

from typing import Any

import pytest

import streams.sink
from base.settings import Settings
from streams.sink import Sink, SinkError


class FakeStore:
    def __init__(self, migrated: bool) -> None:
        self.migrated = migrated
        self.migrations = 0

    def migrate(self) -> None:
        self.migrations += 1
        self.migrated = True


def no_kafka(*args: Any, **kwargs: Any) -> Any:
    raise SinkError("no Kafka here")  # run stops right after the migration step


@pytest.mark.parametrize(("migrated", "migrations"), [(False, 1), (True, 0)])
def test_run_migrates_only_a_store_not_yet_migrated(
    monkeypatch: pytest.MonkeyPatch, migrated: bool, migrations: int
) -> None:
    monkeypatch.setattr(streams.sink, "open_consumer", no_kafka)
    store: Any = FakeStore(migrated)
    sink = Sink(Settings().with_overrides(sink_merkle=0), store)
    with pytest.raises(SinkError, match="no Kafka here"):
        sink.run()
    assert store.migrations == migrations
