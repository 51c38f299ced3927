"""``ledger sql``: run one SQL statement against the audit store and print the result.

Output is an aligned text table, or TSV with ``--tsv``: ClickHouse's own TabSeparatedWithNames
text (NULL as ``\\N``, strings escaped, arrays in quoted form such as ``['a','b\\'c']``), so the
output reads back into ClickHouse unchanged. It runs as the read-only investigator unless ``--as
writer`` asks for the writer: the server's readonly user with per-query limits, or a readonly
chDB session in which only one SELECT or DESCRIBE statement at a time may run (no ``INTO
OUTFILE``, ``FORMAT``, ``SETTINGS``, file or network table functions).
"""

from __future__ import annotations

import argparse

from base.settings import Settings
from ledger.commands.store_options import add_query_options
from streams.store.text import print_result

HELP = "run a SQL query on the audit store and print the rows (table or --tsv)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options."""
    parser.add_argument("query", help='the SQL statement, e.g. "SELECT count() FROM events"')
    add_query_options(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Execute the query and print its rows to stdout."""
    from streams.store import opened_store

    with opened_store(settings, args.role, args.store) as store:
        result = store.query(args.query)
    if not result.columns:
        return 0
    print_result(result.columns, result.rows, tsv=args.tsv)
    return 0
