"""The audit-store options several subcommands share, declared once so they cannot drift."""

from __future__ import annotations

import argparse


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--store``: which backend to open (the settings' default when absent)."""
    parser.add_argument(
        "--store", choices=("chdb", "server"), help="backend (default: settings.store)"
    )


def add_query_options(parser: argparse.ArgumentParser) -> None:
    """``--as``, ``--store`` and ``--tsv`` of the commands that print query results."""
    parser.add_argument(
        "--as",
        dest="role",
        choices=("writer", "investigator"),
        default="investigator",
        help="role to connect as (default: the read-only investigator; writer must be asked for)",
    )
    add_store_option(parser)
    parser.add_argument("--tsv", action="store_true", help="tab-separated output with a header")
