"""The sink's consumer against a real broker: joining a fresh group with short polls.

kafka-python 3.0.12 lets a member orphan its own rebalance: when the rejoin was asked for because
the group's metadata changed (a first join before the subscribed topics' metadata arrived always
does this), the leader's assignment makes ``need_rejoin()`` false before the SyncGroup answer is
read, and a ``poll`` whose timeout expires in that window leaves the join unfinished for good: the
partitions stay revoked and the member fetches nothing, while its loop keeps running. The sink
polls with short timeouts, so it hit this (issue 12: a sink in a fresh group "rebalanced; revoked
[all], claiming [all]" and then consumed nothing for minutes). ``open_consumer`` keeps a join in
flight counted as a rejoin still needed.
"""

from __future__ import annotations

import time
import uuid

import pytest

from base.settings import Settings
from streams.sink_kafka import open_consumer
from tests.integration.test_sink import produce, topic_settings

pytestmark = pytest.mark.integration

__all__ = ["topic_settings"]  # a fixture, used by name

GROUPS = 24


def _topics(settings: Settings) -> list[str]:
    return sorted(
        [
            settings.topic_crossings,
            settings.topic_permits,
            settings.topic_decisions,
            settings.topic_deadletter,
        ]
    )


def test_members_of_fresh_groups_polling_with_tiny_timeouts_all_receive_every_message(
    topic_settings: Settings,
) -> None:
    s = topic_settings
    topics = _topics(s)
    messages = [(t, f"k{p}".encode(), f"{t}:{p}".encode()) for t in topics for p in range(8)]
    expected = len(produce(s, messages))
    stalled: list[str] = []
    for n in range(GROUPS):
        group = f"{s.app_id}-sink-{n}-{uuid.uuid4().hex[:6]}"
        consumer = open_consumer(s, f"short-polls-{n}", group)
        try:
            consumer.subscribe(topics)
            got = 0
            deadline = time.monotonic() + 15
            while got < expected and time.monotonic() < deadline:
                batch = consumer.poll(timeout_ms=1)  # expires mid-rebalance, often
                got += sum(len(records) for records in batch.values())
            if got != expected:
                stalled.append(f"{group}: {got} of {expected}")
        finally:
            consumer.close()
    assert stalled == []
