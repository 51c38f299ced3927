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
from pathlib import Path
from typing import TextIO

from base.settings import Settings
from domain.decisions import Emission
from domain.engine import Engine
from domain.event_data import parse_instant
from ledger.commands.events_input import open_input, read_input_events
from schemas.jsonlines import LineError
from schemas.mapping import emission_to_json_dict
from streams.edge import EdgeLimits
from streams.policy_file import load_policy

HELP = "run the rules engine over JSON-lines events and print decision emissions"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("--policy", type=Path, help="policy JSON (default: packaged policy)")
    parser.add_argument(
        "--as-of", metavar="INSTANT", help="advance the watermark to this instant at the end"
    )
    parser.add_argument("file", nargs="?", default="-", help="JSON-lines events, or - for stdin")


class ErrorReport:
    """Writes each :class:`LineError` to a text stream as it occurs, and counts them."""

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self.count = 0

    def __call__(self, error: LineError) -> None:
        self.count += 1
        print(error, file=self.target)


def emission_line(emission: Emission) -> str:
    """One emission as a compact JSON line (fixed key order)."""
    return json.dumps(emission_to_json_dict(emission), separators=(",", ":"), ensure_ascii=False)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Execute ``ledger check``."""
    policy = load_policy(args.policy or settings.policy_file)
    limits = EdgeLimits.from_settings(settings)
    as_of = parse_instant(args.as_of, "--as-of") if args.as_of else None
    if as_of is not None:
        limits.check_instant(as_of, "--as-of")
    engine = Engine(policy)
    errors = ErrorReport(sys.stderr)
    out = sys.stdout
    with open_input(args.file) as source:
        for event in read_input_events(source, errors, limits):
            for emission in engine.process(event):
                out.write(emission_line(emission) + "\n")
        if as_of is not None:
            for emission in engine.advance_to(as_of):
                out.write(emission_line(emission) + "\n")
    out.flush()
    return 1 if errors.count else 0
