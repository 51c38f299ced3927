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

from streams.settings import Settings

HELP = "check every stored row against the signed Merkle checkpoints (read-only)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options."""
    parser.add_argument(
        "--store", choices=("chdb", "server"), help="backend (default: settings.store)"
    )
    parser.add_argument(
        "--public-key", type=Path, help="hex public key file (default: <signing key>.pub)"
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
    from streams.trust.erasure import erased_offsets
    from streams.trust.keys import Verifier, public_key_path
    from streams.trust.logs import list_logs
    from streams.trust.verify import verify_log

    verifier = Verifier.load(args.public_key or public_key_path(settings.signing_key.expanduser()))
    failed = 0
    with opened_store(settings, "investigator", args.store) as store:
        logs = list_logs(store, settings)
        progress = _Progress(sum(log.rows for log in logs))
        for log in logs:
            erased = erased_offsets(store, log.topic, log.partition)
            report = verify_log(store, log, verifier, erased, progress)
            status = "FAIL" if report.findings else "ok  "
            print(
                f"{status} {log.topic}[{log.partition}]: {report.leaves} leaves, "
                f"{report.checkpoints_checked} checkpoints verified, {report.unsigned} unsigned, "
                f"{report.erased} erased"
            )
            for finding in report.findings:
                print(f"     {finding.line()}")
            failed += bool(report.findings)
    elapsed = time.monotonic() - progress.started
    print(
        f"{len(logs)} logs, {progress.done} rows in {elapsed:.1f}s: "
        + (f"{failed} logs FAILED verification" if failed else "everything verifies")
    )
    return 1 if failed else 0
