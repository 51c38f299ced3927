"""``ledger asof``: the decisions in force at a past knowledge time (``streams.audit``).

"What did the ledger hold true at T?": per decision, the latest emission published at or before
``--known-at`` decides, so a later retraction does not rewrite what was known then. Runs as the
read-only investigator by default.
"""

from __future__ import annotations

import argparse

from base.settings import Settings
from ledger.commands.store_options import add_query_options

HELP = "list the decisions in force at a knowledge time (as the ledger knew them then)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options."""
    parser.add_argument(
        "--known-at",
        required=True,
        metavar="INSTANT",
        help="knowledge time, ISO-8601 with an offset, e.g. 2025-12-10T00:00:00Z",
    )
    parser.add_argument("--traveller", metavar="ID", help="only this traveller's decisions")
    add_query_options(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the decisions in force at ``--known-at``."""
    from domain.event_data import parse_instant
    from streams.audit import decisions_in_force
    from streams.store import opened_store
    from streams.store.text import print_result

    known_at = parse_instant(args.known_at, "--known-at")
    with opened_store(settings, args.role, args.store) as store:
        result = decisions_in_force(store, known_at, args.traveller)
    print_result(result.columns, result.rows, tsv=args.tsv)
    return 0
