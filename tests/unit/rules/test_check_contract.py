"""The offline check's contract, DOMAIN.md section 6: ``ledger check [--policy] [--as-of] FILE|-``.

Events are JSON lines in arrival order; emissions go to stdout as JSON lines; invalid lines are
reported on stderr as ``line N: field: reason``; all valid lines are still processed and the exit
status is then non-zero.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main
from schemas.mapping import emission_to_json_dict
from tests.unit.rules.helpers import heartbeat, leave, run, twov_entry

ROOT = Path(__file__).resolve().parents[3]
ENTRY_AT = "2025-12-02T10:00:00+08:00"  # TWOV at PEK -> deadline 2025-12-13T00:00+08:00


def write_lines(tmp_path: Path, lines: list[Any]) -> Path:
    path = tmp_path / "events.jsonl"
    text = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    path.write_text(text, encoding="utf-8")
    return path


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    emitted = [json.loads(line) for line in out.splitlines() if line.strip()]
    return code, emitted, err


def test_valid_input_writes_emissions_as_json_lines_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lines(tmp_path, [twov_entry("T1", ENTRY_AT, event_id="E1")])
    code, emitted, err = check(capsys, str(path))
    assert code == 0
    assert err == ""
    assert [(e["status"], e["code"]) for e in emitted] == [("ISSUED", "STAY_OPENED")]
    assert emitted[0]["deadline"] == "2025-12-12T16:00:00.000Z"  # 2025-12-13T00:00+08:00
    assert emitted[0]["evidence"] == ["E1"]
    assert emitted[0]["traveller_id"] == "T1"


def test_the_output_is_exactly_the_engines_emissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = [
        twov_entry("T1", ENTRY_AT),
        twov_entry("T2", "2025-12-03T10:00:00+08:00", nationality="IND"),
        leave("T1", "PVG", "2025-12-14T08:00:00+08:00"),
        heartbeat("2025-12-20T00:00:00+08:00"),
    ]
    path = write_lines(tmp_path, events)
    code, emitted, _ = check(capsys, str(path))
    assert code == 0
    assert emitted == [emission_to_json_dict(e) for e in run(events).emissions]


def test_invalid_json_is_reported_with_its_line_number_and_valid_lines_still_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lines(
        tmp_path,
        [
            twov_entry("T1", ENTRY_AT),
            '{"type": "CrossingRecorded", "event_id": ',
            twov_entry("T2", ENTRY_AT),
        ],
    )
    code, emitted, err = check(capsys, str(path))
    assert code != 0
    assert err.count("line ") == 1
    assert "line 2:" in err
    assert {e["traveller_id"] for e in emitted if e["code"] == "STAY_OPENED"} == {"T1", "T2"}


def test_a_timestamp_without_offset_is_reported_with_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = twov_entry("T2", ENTRY_AT)
    bad["occurred_at"] = "2025-12-02T10:00:00"
    path = write_lines(tmp_path, [twov_entry("T1", ENTRY_AT), bad])
    code, emitted, err = check(capsys, str(path))
    assert code != 0
    assert "line 2: occurred_at:" in err
    assert [e["traveller_id"] for e in emitted] == ["T1"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("direction", "SIDEWAYS"),
        ("nationality", "de"),
        ("type", "CrossingHappened"),
        ("port", ""),
        ("birth_date", "2025-13-40"),
    ],
)
def test_an_invalid_field_is_reported_with_its_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: str
) -> None:
    bad = twov_entry("T2", ENTRY_AT)
    bad[field] = value
    path = write_lines(tmp_path, [bad, twov_entry("T1", ENTRY_AT)])
    code, emitted, err = check(capsys, str(path))
    assert code != 0
    assert f"line 1: {field}:" in err
    assert [e["traveller_id"] for e in emitted] == ["T1"]


def test_a_missing_required_field_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = twov_entry("T2", ENTRY_AT)
    del bad["traveller_id"]
    path = write_lines(tmp_path, [twov_entry("T1", ENTRY_AT), bad])
    code, _, err = check(capsys, str(path))
    assert code != 0
    assert "line 2: traveller_id:" in err


def test_a_json_value_that_is_not_an_object_is_an_invalid_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lines(tmp_path, ["[1, 2, 3]", twov_entry("T1", ENTRY_AT)])
    code, emitted, err = check(capsys, str(path))
    assert code != 0
    assert "line 1:" in err
    assert [e["traveller_id"] for e in emitted] == ["T1"]


def test_as_of_fires_a_due_suspected_overstay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lines(tmp_path, [twov_entry("T1", ENTRY_AT)])
    code, emitted, _ = check(capsys, "--as-of", "2025-12-13T00:00:01+08:00", str(path))
    assert code == 0
    suspected = [e for e in emitted if e["code"] == "SUSPECTED_OVERSTAY"]
    assert len(suspected) == 1
    assert suspected[0]["status"] == "ISSUED"
    assert suspected[0]["deadline"] == "2025-12-12T16:00:00.000Z"


def test_without_as_of_nothing_becomes_due_after_the_last_event(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lines(tmp_path, [twov_entry("T1", ENTRY_AT)])
    _, emitted, _ = check(capsys, str(path))
    assert [e["code"] for e in emitted] == ["STAY_OPENED"]


def test_as_of_at_the_deadline_fires_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_lines(tmp_path, [twov_entry("T1", ENTRY_AT)])
    _, emitted, _ = check(capsys, "--as-of", "2025-12-12T16:00:00Z", str(path))
    assert [e["code"] for e in emitted] == ["STAY_OPENED"]


def test_the_policy_option_is_honoured(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = json.loads((ROOT / "streams" / "policy" / "default.json").read_text("utf-8"))
    for rule in policy["rules"]:
        if rule["id"] == "TWOV-240H":
            rule["hours"] = 48
    policy_path = tmp_path / "policy.json"
    policy_path.write_text(json.dumps(policy), encoding="utf-8")
    path = write_lines(tmp_path, [twov_entry("T1", ENTRY_AT)])
    _, emitted, _ = check(capsys, "--policy", str(policy_path), str(path))
    # 48 h, day-after: D = 2025-12-02 -> D + 3 = 2025-12-05T00:00+08:00.
    assert emitted[0]["deadline"] == "2025-12-04T16:00:00.000Z"


def ledger(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def test_events_can_be_read_from_standard_input() -> None:
    stdin = json.dumps(twov_entry("T1", ENTRY_AT)) + "\nnot json\n"
    done = ledger("check", "--as-of", "2025-12-20T00:00:00Z", "-", stdin=stdin)
    assert done.returncode != 0
    assert "line 2:" in done.stderr
    codes = [json.loads(line)["code"] for line in done.stdout.splitlines()]
    assert codes == ["STAY_OPENED", "SUSPECTED_OVERSTAY"]


def test_an_as_of_without_an_offset_is_rejected() -> None:
    stdin = json.dumps(twov_entry("T1", ENTRY_AT)) + "\n"
    done = ledger("check", "--as-of", "2025-12-20T00:00:00", "-", stdin=stdin)
    assert done.returncode != 0
    assert "SUSPECTED_OVERSTAY" not in done.stdout


def test_replaying_the_same_file_gives_byte_identical_output(tmp_path: Path) -> None:
    events = [
        twov_entry("T1", ENTRY_AT),
        twov_entry("T2", "2025-12-03T10:00:00+08:00", arrived_from=None),
        leave("T1", "PVG", "2025-12-14T08:00:00+08:00"),
    ]
    path = write_lines(tmp_path, events)
    first = ledger("check", "--as-of", "2026-01-01T00:00:00Z", str(path))
    second = ledger("check", "--as-of", "2026-01-01T00:00:00Z", str(path))
    assert first.returncode == 0
    assert first.stdout
    assert first.stdout == second.stdout
