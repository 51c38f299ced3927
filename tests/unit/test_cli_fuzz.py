"""Fuzz of ``ledger check`` and ``ledger stay`` (issue 12): a seeded corpus of thousands of mutated
JSON lines and hostile arguments. Zero tracebacks: every bad line is ``line N: field: reason`` and
costs only itself, every bad argument is a named error with exit status 2."""

from __future__ import annotations

import json
import random
import re
from datetime import date
from pathlib import Path

import pytest

from domain.events import GateHeartbeat
from ledger.cli import main
from producers.simulator import SimulationConfig, simulate
from schemas.mapping import event_to_json_dict

SEED = 20261130
LINE_ERROR = re.compile(r"^line (\d+): [^:\n]+: .+$")
EXTREME_INSTANTS = (
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:00:00Z",
    "1969-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
    "2025-13-01T00:00:00Z",
    "2025-12-01T24:00:00Z",
    "2025-12-01",
    "",
)


def corpus_events(n: int) -> list[dict[str, object]]:
    events = simulate(SimulationConfig(start=date(2025, 12, 1), travellers=n // 2, seed=5)).events
    return [event_to_json_dict(e) for e in events if not isinstance(e, GateHeartbeat)][:n]


def mutate(rng: random.Random, event: dict[str, object]) -> bytes:
    """One hostile line derived from a valid event."""
    line = json.dumps(event)
    kind = rng.randrange(12)
    key = rng.choice(sorted(event))
    if kind == 0:  # an invalid UTF-8 byte somewhere
        data = line.encode()
        at = rng.randrange(len(data))
        return data[:at] + rng.choice((b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80")) + data[at:]
    if kind == 1:
        return json.dumps({**event, key: rng.choice(EXTREME_INSTANTS)}).encode()
    if kind == 2:
        return json.dumps({**event, "occurred_at": rng.choice(EXTREME_INSTANTS)}).encode()
    if kind == 3:
        depth = rng.choice((50, 5_000, 100_000))
        return ("[" * depth + "]" * depth).encode()
    if kind == 4:
        return line.replace(f'"{key}": ', f'"{key}": {"9" * 4_300}, "x": ', 1).encode()
    if kind == 5:
        return json.dumps({**event, key: "\ud800"}, ensure_ascii=True).encode()
    if kind == 6:
        return json.dumps(
            {**event, key: rng.choice((None, 0, -1, 10**40, [], {}, True, 1.5))}
        ).encode()
    if kind == 7:
        return line.encode()[: rng.randrange(len(line))]
    if kind == 8:
        return json.dumps({k: v for k, v in event.items() if k != key}).encode()
    if kind == 9:
        return rng.choice((b"null", b"[]", b'"text"', b"1e999", b"NaN", b"{}", b"\x00\x01"))
    if kind == 10:
        return json.dumps({**event, "max_stay_days": rng.choice((10**9, 36_600, 2**63))}).encode()
    return json.dumps({**event, key: "x" * rng.choice((1, 10_000))}).encode()


def write_corpus(path: Path, lines: int) -> tuple[list[int], int]:
    """Mutated lines with an untouched event every fifth line; returns the control line numbers."""
    rng = random.Random(SEED)
    events = corpus_events(lines)
    controls = []
    with path.open("wb") as out:
        for number, event in enumerate(events, start=1):
            if number % 5 == 0:
                controls.append(number)
                out.write(json.dumps(event).encode() + b"\n")
            else:
                out.write(mutate(rng, event).replace(b"\n", b" ") + b"\n")
    return controls, len(events)


def assert_only_line_errors(stderr: str, total: int, controls: list[int]) -> None:
    numbers = []
    for text in stderr.splitlines():
        match = LINE_ERROR.match(text)
        assert match, f"not a line error: {text[:300]!r}"
        numbers.append(int(match[1]))
    assert len(numbers) == len(set(numbers)), "a line was reported twice"
    assert all(1 <= n <= total for n in numbers)
    assert not set(numbers) & set(controls), "a valid line paid for a bad neighbour"
    assert len(numbers) > total // 2  # the mutations really were hostile


def test_check_and_stay_turn_thousands_of_hostile_lines_into_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hostile.jsonl"
    controls, total = write_corpus(path, 3_000)
    assert total == 3_000

    assert main(["check", "--as-of", "2026-01-01T00:00:00Z", str(path)]) == 1
    out, err = capsys.readouterr()
    assert_only_line_errors(err, total, controls)
    assert out.count("\n") > 0

    assert main(["stay", "--at", "2025-12-20T00:00:00Z", str(path)]) == 1
    out, err = capsys.readouterr()
    assert_only_line_errors(err, total, controls)
    assert json.loads(out)["open_stays"]


def test_an_invalid_byte_costs_exactly_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = corpus_events(3)
    path = tmp_path / "bytes.jsonl"
    path.write_bytes(
        json.dumps(events[0]).encode() + b"\n\xff\xfe garbage\n" + json.dumps(events[1]).encode()
    )
    assert main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert err == "line 2: line: not UTF-8: invalid start byte at byte 1\n"
    travellers = {json.loads(line)["traveller_id"] for line in out.splitlines()}
    assert travellers == {events[0]["traveller_id"], events[1]["traveller_id"]}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["check", "--as-of", "9999-12-31T23:59:59Z"],
            "--as-of: 9999-12-31T23:59:59.000Z is outside",
        ),
        (
            ["check", "--as-of", "0001-01-01T00:00:00Z"],
            "--as-of: 0001-01-01T00:00:00.000Z is outside",
        ),
        (["check", "--as-of", "0001-01-01T00:00:00+01:00"], "--as-of: instant out of range"),
        (["check", "--as-of", "tomorrow"], "--as-of: not an ISO-8601 instant"),
        (["stay", "--at", "9999-12-31T23:00:00-01:00"], "--at: instant out of range"),
        (["stay", "--at", "0001-01-01T00:00:00Z"], "--at: 0001-01-01T00:00:00.000Z is outside"),
        (
            ["stay", "--at", "2025-12-01T00:00:00Z", "--plan-entry", "9999-12-31"],
            "--plan-entry: 9999-12-31 is outside",
        ),
        (
            ["stay", "--at", "2025-12-01T00:00:00Z", "--plan-entry", "0001-01-01"],
            "--plan-entry: 0001-01-01 is outside",
        ),
    ],
)
def test_hostile_arguments_are_named_errors(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    assert main([*argv, str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ledger {argv[0]}: error: {message}"), err


@pytest.mark.parametrize("command", [["check"], ["stay", "--at", "2025-12-01T00:00:00Z"]])
def test_a_missing_file_is_a_named_error(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.jsonl"
    assert main([*command, str(missing)]) == 2
    assert capsys.readouterr().err == (
        f"ledger {command[0]}: error: file: {missing}: No such file or directory\n"
    )
