"""``ledger check``: run the rules engine offline over JSON-lines events (DOMAIN.md section 6).

Events are read in arrival order from a file or stdin and fed to exactly the engine the stream
processors run, with an allowed lateness of 0. Decision emissions are written to stdout as compact
JSON lines with a fixed key order. ``--as-of`` advances the watermark after the last event so that
due timers fire. Invalid lines are reported on stderr as ``line N: <field>: <reason>``; every valid
line is still processed and the exit status is then 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, TextIO

from streams.domain.decisions import Emission
from streams.domain.engine import Engine
from streams.domain.errors import InvalidEventError
from streams.domain.events import Event, event_from_mapping, parse_instant
from streams.domain.policy import load_policy
from streams.settings import Settings

HELP = "run the rules engine over JSON-lines events and print decision emissions"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("--policy", type=Path, help="policy JSON (default: packaged policy)")
    parser.add_argument(
        "--as-of", metavar="INSTANT", help="advance the watermark to this instant at the end"
    )
    parser.add_argument("file", nargs="?", default="-", help="JSON-lines events, or - for stdin")


def parse_lines(lines: Iterable[str], errors: TextIO) -> Iterator[Event]:
    """Valid events from JSON lines; each invalid line is reported on ``errors`` and skipped.

    Blank lines are ignored. Sets ``parse_lines.failed`` semantics via the returned iterator's
    consumer: callers count errors by wrapping ``errors``.
    """
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            errors.write(f"line {number}: json: {e.msg} at column {e.colno}\n")
            continue
        if not isinstance(data, dict):
            errors.write(f"line {number}: json: expected an object\n")
            continue
        try:
            yield event_from_mapping(data)
        except InvalidEventError as e:
            errors.write(f"line {number}: {e.field or 'event'}: {e.reason}\n")


class _CountingWriter:
    """Forwards to a text stream and counts the reports written."""

    def __init__(self, target: IO[str]) -> None:
        self.target = target
        self.count = 0

    def write(self, text: str) -> int:
        self.count += 1
        return self.target.write(text)


def emission_line(emission: Emission) -> str:
    """One emission as a compact JSON line (fixed key order)."""
    return json.dumps(emission.to_json_dict(), separators=(",", ":"), ensure_ascii=False)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Execute ``ledger check``."""
    policy = load_policy(args.policy or settings.policy_file)
    as_of = parse_instant(args.as_of, "--as-of") if args.as_of else None
    engine = Engine(policy)
    errors = _CountingWriter(sys.stderr)
    out = sys.stdout
    source: IO[str]
    source = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    try:
        for event in parse_lines(source, errors):  # type: ignore[arg-type]
            for emission in engine.process(event):
                out.write(emission_line(emission) + "\n")
        if as_of is not None:
            for emission in engine.advance_to(as_of):
                out.write(emission_line(emission) + "\n")
    finally:
        if source is not sys.stdin:
            source.close()
    out.flush()
    return 1 if errors.count else 0
