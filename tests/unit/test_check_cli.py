"""``ledger check`` end to end in-process: JSON lines in, emissions out, bad lines reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.cli import main

ENTRY = {
    "type": "CrossingRecorded",
    "event_id": "e1",
    "traveller_id": "t1",
    "occurred_at": "2025-01-01T00:00:00Z",
    "port": "HK-LO-WU",
    "direction": "ENTRY",
    "basis": "VISITOR",
    "nationality": "CHN",
    "document": "EEP",
    "channel": "COUNTER",
}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_check_prints_emissions_and_fires_timers_at_as_of(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, [json.dumps(ENTRY)])
    assert main(["check", "--as-of", "2025-02-01T00:00:00Z", str(path)]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(o["status"], o["code"]) for o in out] == [
        ("ISSUED", "STAY_OPENED"),
        ("ISSUED", "SUSPECTED_OVERSTAY"),
    ]
    assert out[1]["observed_at"] == out[1]["deadline"] == "2025-01-08T16:00:00.000Z"


def test_invalid_lines_are_reported_and_valid_ones_still_processed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    naive = dict(ENTRY, event_id="e2", occurred_at="2025-01-01T00:00:00")
    path = _write(tmp_path, ["{not json", json.dumps(naive), json.dumps(ENTRY)])
    assert main(["check", str(path)]) != 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0].startswith("line 1: ")
    assert captured.err.splitlines()[1].startswith("line 2: occurred_at: ")
    assert [json.loads(x)["code"] for x in captured.out.splitlines()] == ["STAY_OPENED"]


def test_replaying_the_same_input_gives_byte_identical_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exit_ = dict(ENTRY, event_id="e2", direction="EXIT", occurred_at="2025-01-20T00:00:00Z")
    del exit_["basis"]
    path = _write(tmp_path, [json.dumps(exit_), json.dumps(ENTRY)])
    main(["check", str(path)])
    first = capsys.readouterr().out
    main(["check", str(path)])
    assert capsys.readouterr().out == first
