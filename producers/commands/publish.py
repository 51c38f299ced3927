"""``ledger publish FILE|-``: publish a JSON-lines file of events to Kafka.

Each line is validated with ``event_from_mapping``; a malformed line is reported on stderr as
``line N: field: reason`` and skipped, the rest is still published, and the exit status is then
non-zero. Heartbeats fan out to every crossings partition.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import TextIO

from streams.domain.errors import InvalidEventError
from streams.domain.events import Event, event_from_mapping
from streams.settings import Settings

HELP = "Publish a JSON-lines file of events (as written by `ledger simulate`) to Kafka."


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's arguments."""
    parser.add_argument(
        "file",
        nargs="?",
        default="-",
        metavar="FILE|-",
        help="JSON lines to publish (default stdin)",
    )
    parser.add_argument("--flush-timeout", type=float, default=60.0,
                        help="seconds to wait for acknowledgements")  # fmt: skip


def read_events(lines: TextIO, errors: list[str]) -> Iterator[Event]:
    """Valid events of a JSON-lines stream; each bad line appends ``line N: field: reason``."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {number}: json: {e.msg}")
            continue
        if not isinstance(data, dict):
            errors.append(f"line {number}: type: expected a JSON object")
            continue
        try:
            yield event_from_mapping(data)
        except InvalidEventError as e:
            errors.append(f"line {number}: {e}")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Publish the file; non-zero when a line was malformed."""
    from producers.commands.publishing import publish_to_kafka

    errors: list[str] = []

    def report_errors() -> None:
        for message in errors:
            print(message, file=sys.stderr)

    if args.file == "-":
        stream: TextIO = sys.stdin
        try:
            publish_to_kafka(
                read_events(stream, errors), settings, flush_timeout=args.flush_timeout
            )
        finally:
            report_errors()
    else:
        with open(args.file, encoding="utf-8") as f:
            try:
                publish_to_kafka(read_events(f, errors), settings, flush_timeout=args.flush_timeout)
            finally:
                report_errors()
    if errors:
        print(f"{len(errors)} malformed line(s) skipped", file=sys.stderr)
        return 1
    return 0
