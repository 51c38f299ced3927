"""``ledger simulate``: a seeded day (or days) of border traffic, as JSON lines or onto Kafka.

Writes one event per line (``event_to_json_dict``, keys in contract order) in arrival order: the
format ``ledger check`` and ``ledger publish`` read. ``--publish`` sends the events through the
event publisher instead, heartbeats to every crossings partition.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import TextIO

from base.settings import Settings
from domain.events import Event
from ledger.commands.traffic import add_traffic_arguments, traffic_config
from schemas.mapping import event_to_json_dict

HELP = "Generate seeded, deterministic border traffic as JSON lines (or publish it to Kafka)."


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's arguments."""
    add_traffic_arguments(parser, violations=0.0)
    parser.add_argument(
        "--out", default="-", metavar="FILE|-", help="where to write JSON lines (default stdout)"
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="publish to Kafka (LEDGER_KAFKA_BOOTSTRAP) instead of writing",
    )
    parser.add_argument("--flush-timeout", type=float, default=60.0,
                        help="seconds to wait for acknowledgements when publishing")  # fmt: skip


def write_json_lines(events: Iterable[Event], out: TextIO) -> int:
    """Write events as JSON lines in the contract's key order; return how many."""
    n = 0
    for event in events:
        out.write(json.dumps(event_to_json_dict(event), ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
        n += 1
    return n


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Simulate, then write or publish."""
    from producers.simulator import simulate

    config = traffic_config(args)
    simulation = simulate(config)
    if args.publish:
        from ledger.commands.publishing import publish_to_kafka

        publish_to_kafka(simulation.events, settings, flush_timeout=args.flush_timeout)
        return 0
    if args.out == "-":
        n = write_json_lines(simulation.events, sys.stdout)
        sys.stdout.flush()
    else:
        with open(args.out, "w", encoding="utf-8", newline="\n") as f:
            n = write_json_lines(simulation.events, f)
    print(
        f"simulated {n} events for {config.travellers} travellers "
        f"({len(simulation.violations)} with an injected violation)",
        file=sys.stderr,
    )
    return 0
