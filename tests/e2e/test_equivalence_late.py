"""The live worker decides late data as the offline engine does (issue 8), through the real broker.

The equivalence stream of ``test_equivalence.py``, except that one gate (``HK-LOK-MA-CHAU``) goes
offline on the second simulated day. The rest is published and decided; then every other gate's
heartbeats move every partition clock 40 days ahead (far past the 30-day pruning horizon, so the
travellers' closed stays are forgotten), and only then does the gate upload its backlog: all of
its crossings, the withheld ones and, again, those it had sent before going offline. The worker's
decisions, folded by ``decision_id``, must equal ``ledger check --as-of T`` on the same events in
the same order. The backlog must be judged exactly where nothing was forgotten (stays closed and
overstays from crossings 40 days late), flagged ``LATE_EVENT_UNJUDGED`` where it falls on forgotten
history, and no crossing may go without a decision.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from base.settings import Settings
from domain.decisions import Code, Status
from domain.events import CrossingRecorded, Event, GateHeartbeat
from producers.simulator import simulate
from streams.policy_file import load_policy
from tests.e2e.test_equivalence import (
    CONFIG,
    Stream,
    assert_equivalent,
    assert_watermarks_at,
    settings,
)
from tests.pipeline import (
    offline_decisions,
    publish_stream,
    read_emissions,
    running_worker,
    wait_until_settled,
)

pytestmark = pytest.mark.e2e
__all__ = ["settings"]  # the fixture, shared with the in-order equivalence tests

GATE = "HK-LOK-MA-CHAU"
OFFLINE_FROM = datetime(2025, 12, 1, 16, tzinfo=UTC)  # 00:00 on 2 December in Hong Kong
LATE_BY = timedelta(days=40)


def at_gate(e: Event) -> bool:
    return isinstance(e, CrossingRecorded) and e.port == GATE


@pytest.fixture(scope="module")
def phases() -> tuple[list[Event], list[Event], Stream]:
    """(on time, the 40-day jump then the backlog, the whole stream with the offline answer)."""
    events = simulate(CONFIG).events
    last = max(e.occurred_at for e in events)
    on_time = [e for e in events if not (at_gate(e) and e.occurred_at >= OFFLINE_FROM)]
    # Other gates stay alive: a heartbeat a day to every partition for 40 days.
    jump: list[Event] = [
        GateHeartbeat(event_id=f"jump-{d}", occurred_at=last + timedelta(days=d), port="HK-LO-WU")
        for d in range(1, LATE_BY.days + 1)
    ]
    backlog = [e for e in events if at_gate(e)]
    late = [*jump, *backlog]
    as_of = last + LATE_BY + timedelta(hours=12)
    final = GateHeartbeat(event_id="final-heartbeat", occurred_at=as_of, port="HK-LO-WU")
    policy = load_policy()
    _, expected = offline_decisions(policy, [*on_time, *late, final], as_of)
    return on_time, late, Stream((*on_time, *late), final, policy, expected)


def test_a_gates_backlog_40_days_late_is_decided_live_as_offline(
    settings: Settings, phases: tuple[list[Event], list[Event], Stream], tmp_path: Path
) -> None:
    on_time, late, stream = phases
    log = tmp_path / "worker.log"
    with running_worker(settings, log) as proc:
        workers = [(proc, log)]
        publish_stream(settings, on_time)
        wait_until_settled(settings, workers)  # permits included: nothing is left in flight
        publish_stream(settings, [*late, stream.final])
        wait_until_settled(settings, workers)
        assert_watermarks_at([settings], stream.final.occurred_at, workers)
        emissions = read_emissions(settings)
        folded = assert_equivalent(emissions, stream, workers)

    backlog = {e.event_id for e in late if at_gate(e)}
    sent_before = {e.event_id for e in on_time if at_gate(e)}
    withheld = backlog - sent_before
    cited: Counter[Code] = Counter()
    for d in folded.values():
        if withheld.intersection(d.evidence):
            cited[d.code] += 1
    print(f"decisions citing the withheld crossings: {dict(cited)}")
    # Judged exactly although 40 days late: stays closed (and overstayed) by the backlog.
    assert cited[Code.STAY_CLOSED] > 0, cited
    assert cited[Code.OVERSTAY] > 0, cited
    # Re-sent crossings whose history was forgotten meanwhile are flagged, never re-judged.
    unjudged = [d for d in folded.values() if d.code is Code.LATE_EVENT_UNJUDGED]
    assert unjudged, "no re-sent crossing fell on forgotten history"
    assert {d.evidence[0] for d in unjudged} <= sent_before
    # No crossing of the backlog went without a decision.
    issued = {i for em in emissions if em.status is Status.ISSUED for i in em.decision.evidence}
    assert backlog <= issued, sorted(backlog - issued)[:10]
