"""``SinkLog.resume`` rebuilds every claimed partition's frontier in one pass over the store.

Two signed logs are stored as the sink stores them (chDB, no Kafka needed: nothing is published
on resume); resuming both partitions at once, each at its own start offset, must give each the
frontier of exactly its leaves below that start and the size its last checkpoint signed, as
resuming it alone from scratch would.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from base.settings import Settings
from benchmarks.bench_sink import make_events
from benchmarks.trust_log import store_signed_log
from schemas.codec import encode_event
from streams.store import open_store
from streams.store.base import Table
from streams.trust.keys import init_key
from streams.trust.merkle import Frontier, leaf_hash
from streams.trust.sinklog import SinkLog

pytestmark = pytest.mark.integration


def test_resume_rebuilds_each_partition_below_its_own_start(
    base_settings: Settings, chdb_dir: Path, tmp_path: Path
) -> None:
    key = tmp_path / "keys" / "signing.pem"
    signer = init_key(key)
    topic = f"resume.crossings.{uuid.uuid4().hex[:8]}"
    settings = base_settings.with_overrides(
        store="chdb",
        chdb_path=chdb_dir,
        clickhouse_database=f"resume_{uuid.uuid4().hex[:10]}",
        topic_crossings=topic,
        signing_key=key,
    )
    values = [encode_event(e) for e in make_events(200)]
    starts = {(topic, 0): 37, (topic, 1): 100, (topic, 2): 0}  # 2: a partition with no rows
    with open_store(settings, "writer") as store:
        store.migrate()
        for partition in (0, 1):
            store_signed_log(store, signer, topic, partition, values[partition::2], every=30)
        sinklog = SinkLog(settings, store)
        sinklog.resume({tp: (Table.EVENTS, start) for tp, start in starts.items()})
        for (_, partition), start in starts.items():
            expected = Frontier()
            for value in values[partition::2][:start]:
                expected.append(leaf_hash(value))
            frontier = sinklog._frontiers[(topic, partition)]
            assert (frontier.size, frontier.root()) == (expected.size, expected.root())
        # Checkpoints every 30 leaves of the 100 per log, and one at the end.
        assert sinklog._signed_size == {(topic, 0): 100, (topic, 1): 100, (topic, 2): 0}
        sinklog.close()
