"""Processed input offsets as merged ranges (streams.worker.coverage)."""

from __future__ import annotations

import itertools
import random

from hypothesis import given
from hypothesis import strategies as st

from schemas.mapping import Coordinates
from streams.worker.coverage import OffsetCoverage


def test_consecutive_offsets_make_one_range_and_a_skipped_one_a_hole() -> None:
    coverage = OffsetCoverage()
    coverage.add_all(Coordinates("crossings", 0, o) for o in [*range(100, 200), *range(201, 250)])
    coverage.add("permits", 3, 0)
    assert coverage.as_json() == {
        "crossings[0]": [[100, 200], [201, 250]],
        "permits[3]": [[0, 1]],
    }


def test_a_re_read_after_a_seek_fills_the_hole_and_duplicates_change_nothing() -> None:
    coverage = OffsetCoverage()
    for o in [*range(10, 20), *range(25, 30), *range(15, 27), 12, 29]:
        coverage.add("crossings", 1, o)
    assert coverage.as_json() == {"crossings[1]": [[10, 30]]}


@given(st.lists(st.integers(min_value=0, max_value=300), max_size=400))
def test_the_ranges_are_exactly_the_offsets_added(offsets: list[int]) -> None:
    coverage = OffsetCoverage()
    for o in offsets:
        coverage.add("t", 0, o)
    ranges = coverage.as_json().get("t[0]", [])
    covered = [o for start, end in ranges for o in range(start, end)]
    assert covered == sorted(set(offsets))
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges)), "merged, sorted"


def test_shuffled_delivery_of_a_whole_partition_is_one_range() -> None:
    offsets = list(range(5_000))
    random.Random(12).shuffle(offsets)
    coverage = OffsetCoverage()
    for o in offsets:
        coverage.add("t", 2, o)
    assert coverage.as_json() == {"t[2]": [[0, 5_000]]}
