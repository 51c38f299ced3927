"""The knowledge time of a decision row: the Kafka timestamp of its message, to the millisecond."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.decisions import Emission, Status
from schemas.mapping import Coordinates
from streams.sink import record_time
from streams.store.rows import decision_row, join_instant
from tests.samples import decision

FALLBACK = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def test_a_record_timestamp_is_read_as_epoch_milliseconds_exactly() -> None:
    # 1764547200123 ms is 2025-12-01T00:00:00.123Z; float division would lose the last digit.
    assert record_time(1764547200123, FALLBACK) == datetime(2025, 12, 1, 0, 0, 0, 123000, UTC)
    assert record_time(0, FALLBACK) == datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("missing", [None, -1])
def test_a_record_without_timestamp_falls_back_to_the_ingestion_time(missing: int | None) -> None:
    assert record_time(missing, FALLBACK) is FALLBACK


def test_the_decision_row_splits_the_knowledge_time_into_second_and_milliseconds() -> None:
    opened = decision(
        decision_id="d",
        traveller_id="t",
        rule="r",
        evidence=("e",),
        observed_at=datetime(2025, 12, 1, tzinfo=UTC),
    )
    emitted = record_time(1764547200999, FALLBACK)
    row = decision_row(Emission(Status.ISSUED, opened), Coordinates("d", 0, 1), emitted, FALLBACK)
    assert (row["emitted_at"], row["emitted_at_ms"]) == (datetime(2025, 12, 1, tzinfo=UTC), 999)
    assert join_instant(row["emitted_at"], row["emitted_at_ms"]) == emitted
    assert row["ingested_at"] == FALLBACK.replace(microsecond=0)
