"""The sink benchmark's own arithmetic and bookkeeping: the baseline replays exactly the inserts
the sink made, and the ceiling adds only the unavoidable per-row costs to the baseline's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest

from benchmarks.bench_sink import ceiling, recording_inserts
from streams.store.base import Row, Store, Table


class InsertOnly:
    """The one store method the recorder wraps."""

    def __init__(self) -> None:
        self.stored: list[tuple[Table, int]] = []

    def insert(self, table: Table, rows: Sequence[Row]) -> None:
        if any("fail" in row for row in rows):
            raise RuntimeError("refused")
        self.stored.append((table, len(rows)))


def test_recorded_inserts_are_the_calls_made_in_order_with_their_rows() -> None:
    store = InsertOnly()
    calls = recording_inserts(cast(Store, store))
    first: list[dict[str, Any]] = [{"event_id": "a"}, {"event_id": "b"}]
    second: list[dict[str, Any]] = [{"decision_id": "d"}]
    store.insert(Table.EVENTS, first)
    store.insert(Table.DECISIONS, second)
    assert store.stored == [(Table.EVENTS, 2), (Table.DECISIONS, 1)]  # still inserted
    assert calls == [(Table.EVENTS, first), (Table.DECISIONS, second)]
    assert calls[0][1] is first  # the very rows, not copies


def test_a_failed_insert_is_not_recorded() -> None:
    store = InsertOnly()
    calls = recording_inserts(cast(Store, store))
    with pytest.raises(RuntimeError):
        store.insert(Table.EVENTS, [{"fail": 1}])
    assert calls == []


def test_ceiling_is_the_insert_share_of_the_unavoidable_time() -> None:
    # 10 µs to insert, 5 to consume, 5 to decode a row: at best the sink spends 20 µs a row.
    assert ceiling(100_000, 200_000, 200_000) == pytest.approx(0.5)
    assert ceiling(100_000, 1e12, 1e12) == pytest.approx(1.0)
    assert ceiling(40_000, 160_000, 110_000) == pytest.approx(25 / (25 + 6.25 + 9.0909), rel=1e-4)
