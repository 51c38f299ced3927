"""``ledger sink``: run the ClickHouse sink (Kafka topics to the audit tables), exactly once.

Progress goes to stderr. ``--until-caught-up`` stops once every partition is stored up to the end
offsets observed at start; otherwise the sink runs until SIGINT/SIGTERM, flushing before exit.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from base.settings import Settings
from ledger.commands.store_options import add_store_option

HELP = "store the Kafka topics in ClickHouse (events, decisions, dead letters), exactly once"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options."""
    add_store_option(parser)
    parser.add_argument(
        "--until-caught-up",
        action="store_true",
        help="exit once the end offsets observed at start are stored",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="report every flush")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the sink; 0 on a clean stop or once caught up."""
    from streams.sink import Sink
    from streams.store import open_store

    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    if args.verbose:
        logging.getLogger("streams.sink").setLevel(logging.DEBUG)
    stop = threading.Event()

    def _request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _request_stop)
    signal.signal(signal.SIGINT, _request_stop)
    store = open_store(settings, "writer", args.store)
    try:
        sink = Sink(settings, store)
        until = sink.end_offsets() if args.until_caught_up else None
        if until is not None:
            print(f"ledger sink: catching up to {sum(until.values())} offsets", file=sys.stderr)
        stats = sink.run(stop, until=until)
    finally:
        store.close()
    print(f"ledger sink: {stats.summary()}", file=sys.stderr)
    return 0
