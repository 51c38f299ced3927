"""``ledger verify``: recompute the Merkle logs from the store, as the read-only investigator.

Prints one line per log (leaves, checkpoints checked, unsigned and erased leaves) and one line per
problem, naming it by (topic, partition, offset); progress goes to stderr. Exit status 0 when
every log verifies, 1 when anything was found.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from base.settings import Settings
from ledger.commands.store_options import add_store_option

HELP = "check every stored row against the signed Merkle checkpoints (read-only)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options."""
    add_store_option(parser)
    parser.add_argument(
        "--public-key", type=Path, help="hex public key file (default: <signing key>.pub)"
    )
    parser.add_argument(
        "--hashes-only",
        action="store_true",
        help="skip re-deriving every row's columns from its Kafka value (much faster; values, "
        "leaves, order and checkpoints are still checked, derived columns are not)",
    )


class _Progress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self.shown = self.started

    def __call__(self, rows: int) -> None:
        self.done += rows
        now = time.monotonic()
        if now - self.shown >= 2.0:
            rate = self.done / max(now - self.started, 1e-9)
            print(f"verify: {self.done}/{self.total} rows, {rate:,.0f} rows/s", file=sys.stderr)
            self.shown = now


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Verify every log; 0 if all verify, 1 otherwise."""
    from streams.store import opened_store
    from streams.trust.keys import Verifier, public_key_path
    from streams.trust.logs import list_logs
    from streams.trust.verify import report_lines, verify_all

    verifier = Verifier.load(args.public_key or public_key_path(settings.signing_key.expanduser()))
    with opened_store(settings, "investigator", args.store) as store:
        progress = _Progress(sum(log.rows for log in list_logs(store, settings)))
        reports = verify_all(store, settings, verifier, progress, columns=not args.hashes_only)
    for line in report_lines(reports):
        print(line)
    failed = sum(bool(r.findings) for r in reports)
    elapsed = time.monotonic() - progress.started
    print(
        f"{len(reports)} logs, {progress.done} rows in {elapsed:.1f}s: "
        + (f"{failed} logs FAILED verification" if failed else "everything verifies")
    )
    return 1 if failed else 0
