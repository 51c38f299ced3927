"""``ledger publish FILE|-``: publish a JSON-lines file of events to Kafka.

Each line is validated with ``event_from_mapping``; a malformed line is reported on stderr as
``line N: field: reason`` and skipped, the rest is still published, and the exit status is then
non-zero. Heartbeats fan out to every crossings partition.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from base.settings import Settings
from schemas.jsonlines import LineError, read_events

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


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Publish the file; non-zero when a line was malformed."""
    from ledger.commands.publishing import publish_to_kafka

    errors: list[LineError] = []

    stream: TextIO = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    try:
        publish_to_kafka(
            read_events(stream, errors.append), settings, flush_timeout=args.flush_timeout
        )
    finally:
        if stream is not sys.stdin:
            stream.close()
        for error in errors:
            print(error, file=sys.stderr)
    if errors:
        print(f"{len(errors)} malformed line(s) skipped", file=sys.stderr)
        return 1
    return 0
