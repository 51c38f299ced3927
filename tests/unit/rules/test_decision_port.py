"""Each emission carries the port of the crossing its decision cites first (``Emission.port``).

The audit store counts decisions per port and day from it without joining every crossing; the
decision itself (its id, its equality, ``ledger check`` output) does not include it.
"""

from __future__ import annotations

from datetime import datetime

from domain.decisions import Code, Status
from schemas.mapping import emission_to_json_dict
from tests.unit.rules.helpers import heartbeat, leave, run, twov_entry

ENTRY_AT = "2025-12-02T10:00:00+08:00"  # TWOV at PVG -> deadline 2025-12-13T00:00+08:00


def test_every_emission_of_a_stay_carries_its_entry_port() -> None:
    result = run(
        [
            twov_entry("T1", ENTRY_AT, port="PVG"),
            heartbeat("2025-12-14T00:00:00+08:00", port="PEK"),  # suspected at the deadline
            leave("T1", "PEK", "2025-12-15T09:00:00+08:00"),  # late exit, elsewhere
        ]
    )
    seen = [(e.status, e.decision.code, e.port) for e in result.emissions]
    assert (Status.ISSUED, Code.STAY_OPENED, "PVG") in seen
    assert (Status.ISSUED, Code.SUSPECTED_OVERSTAY, "PVG") in seen  # fired by a timer
    assert (Status.RETRACTED, Code.SUSPECTED_OVERSTAY, "PVG") in seen
    assert (Status.ISSUED, Code.OVERSTAY, "PVG") in seen  # evidence: entry first, then exit
    assert all(e.port is not None for e in result.emissions), seen
    entered = datetime.fromisoformat(ENTRY_AT)
    assert {e.port_at for e in result.emissions} == {entered}  # the entry's, not the exit's


def test_a_decision_citing_its_exit_carries_the_exit_place_too() -> None:
    exited = "2025-12-15T09:00:00+08:00"
    result = run(
        [
            twov_entry("T1", ENTRY_AT, port="PVG"),
            heartbeat("2025-12-14T00:00:00+08:00", port="PEK"),
            leave("T1", "PEK", exited),
        ]
    )
    overstay = next(e for e in result.emissions if e.decision.code is Code.OVERSTAY)
    assert (overstay.last_port, overstay.last_at) == ("PEK", datetime.fromisoformat(exited))
    assert (overstay.port, overstay.port_at) == ("PVG", datetime.fromisoformat(ENTRY_AT))
    # a decision citing one event has no "last" crossing apart from its first
    single = [e for e in result.emissions if len(e.decision.evidence) == 1]
    assert single and all(e.last_port is None and e.last_at is None for e in single)
    assert "last_port" not in emission_to_json_dict(overstay)
    assert "last_at" not in emission_to_json_dict(overstay)


def test_the_port_is_not_part_of_the_decision_or_the_check_output() -> None:
    result = run([twov_entry("T1", ENTRY_AT, port="PVG")])
    emission = next(e for e in result.emissions if e.decision.code is Code.STAY_OPENED)
    assert emission.port == "PVG"
    assert "port" not in emission_to_json_dict(emission)
    assert "port_at" not in emission_to_json_dict(emission)
    elsewhere = run([twov_entry("T1", ENTRY_AT, port="PEK")])
    other = next(e for e in elsewhere.emissions if e.decision.code is Code.STAY_OPENED)
    assert other.port == "PEK"
