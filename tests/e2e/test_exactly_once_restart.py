"""A worker restarted under ``processing_guarantee="exactly_once"`` passes its restore gate at once.

Faust writes the changelogs inside transactions then, so each ends with a commit marker one offset
past its last record. The restore gate compared the store's applied offset to ``end - 1``, called
every such partition behind, restarted recovery (which read nothing more) and let it through only
with an error. Now the gate asks the broker whether a committed record lies above the applied
offset (:mod:`streams.worker.changelog_tail`, with the worker's own login): the restart must log
neither, its state must be the first worker's, and the two together decide what the offline engine
decides.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from base.settings import Settings
from tests.e2e.test_equivalence import (
    Stream,
    assert_equivalent,
    settings,
    simulated_stream,
)
from tests.pipeline import publish_stream, read_emissions, running_worker, wait_until_settled

pytestmark = pytest.mark.e2e
__all__ = ["settings"]  # the fixture, shared with the equivalence tests

NOT_RESTORED = "recovery ended with changelog partitions not restored"
STILL_BEHIND = "changelog partitions still behind"
REBUILT = re.compile(r"deadline index rebuilt with (\d+) entries")


def test_a_restart_on_transactional_changelogs_needs_no_extra_recovery(
    settings: Settings, tmp_path: Path
) -> None:
    exactly_once = settings.with_overrides(processing_guarantee="exactly_once")
    stream: Stream = simulated_stream()
    events = stream.published
    half = len(events) // 2
    first, second = tmp_path / "worker-1.log", tmp_path / "worker-2.log"
    with running_worker(exactly_once, first) as proc:
        publish_stream(exactly_once, events[:half])
        wait_until_settled(exactly_once, [(proc, first)])
    with running_worker(exactly_once, second) as proc:  # same web port: same RocksDB
        publish_stream(exactly_once, events[half:])
        wait_until_settled(exactly_once, [(proc, second)])
        assert_equivalent(read_emissions(exactly_once), stream, [(proc, second)])
    restart = second.read_text()
    assert NOT_RESTORED not in restart and STILL_BEHIND not in restart, restart[-4000:]
    rebuilt = [int(n) for n in REBUILT.findall(restart)]
    assert sum(rebuilt) > 0, "the restart held no state: nothing was restored"
