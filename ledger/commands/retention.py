"""``ledger retention``: list the stays whose retention period ended; ``--apply`` erases them.

Periods are policy data per jurisdiction (``streams/policy/retention.json``, EES defaults: 3
years after a stay closed within its limit, 5 otherwise, from the stay's last record). The dry
run reads as the investigator; ``--apply`` erases payloads as the writer (leaf hashes stay, so
``ledger verify`` still passes and reports the rows as erased) and records each erasure in the
``erasures`` table and on ``border.erasures.v1``.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, time

from base.settings import Settings
from ledger.commands.store_options import add_store_option

HELP = "list (or --apply: erase) the stays whose retention period has ended"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options."""
    parser.add_argument(
        "--as-of", required=True, type=date.fromisoformat, help="the date to judge at (UTC)"
    )
    parser.add_argument("--apply", action="store_true", help="erase (default: dry run)")
    add_store_option(parser)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """List the due stays, and erase them with ``--apply``; 0 on success."""
    from streams.store import opened_store
    from streams.trust.erasure import publish_erasures
    from streams.trust.retention import due_stays, erase
    from streams.trust.retention_policy import load_retention_policy

    policy = load_retention_policy(settings.retention_policy_file)
    as_of = datetime.combine(args.as_of, time.min, tzinfo=UTC)
    with opened_store(settings, "writer" if args.apply else "investigator", args.store) as store:
        due = due_stays(store, policy, as_of)
        for s in due:
            print(
                f"due  stay {s.stay} ({s.jurisdiction}, {s.outcome}): last record "
                f"{s.last_record_at:%Y-%m-%d}, due {s.due_at:%Y-%m-%d} under {s.policy}; "
                f"{len(s.event_rows)} events, {len(s.decisions)} decisions"
            )
        print(f"{len(due)} stays due as of {args.as_of} (retention policy {policy.version})")
        if not args.apply or not due:
            if due:
                print("dry run: nothing erased (--apply erases)")
            return 0
        erasures = erase(store, due, datetime.now(UTC))
    publish_erasures(settings, erasures)
    rows = sum(len(e["offsets"]) for e in erasures)
    print(f"erased the payloads of {rows} rows of {len(due)} stays ({len(erasures)} erasures)")
    return 0
