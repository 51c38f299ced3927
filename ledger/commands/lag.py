"""``ledger lag``: the enforcement worker group's consumer lag, per input partition.

Read from the broker's own bookkeeping (committed group offsets against end offsets), so it works
whether or not a worker is running. ``--health`` also prints the local worker's ``/health/``
answer (its partitions, their event-time watermarks and deadline-index sizes, its counters).
Exit status 0 when the group has caught up, 1 when it is behind.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from base.settings import Settings

HELP = "consumer lag of the worker group per partition (and the worker's /health/)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options."""
    parser.add_argument("--group", help="consumer group (default: settings.app_id)")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    parser.add_argument("--health", action="store_true", help="also query the worker's /health/")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to retry while the broker cannot say"
    )
    parser.add_argument(
        "--worker", metavar="URL", help="worker web URL (default http://127.0.0.1:<web port>)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Print the lag; 1 if any partition is behind."""
    from ledger.job import lag_table
    from streams.ops import LagUnavailableError, consumer_lag

    group = args.group or settings.app_id
    topics = (settings.topic_crossings, settings.topic_permits)
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            lags = consumer_lag(settings, group, topics)
            break
        except LagUnavailableError as e:
            # e.g. the group coordinator is still being elected on a fresh broker
            if not e.retriable or time.monotonic() > deadline:
                raise
            print(f"ledger lag: {e}; retrying", file=sys.stderr)
            time.sleep(1.0)
    total = sum(p.lag for p in lags)
    health = _health(args, settings) if args.health else None
    if args.json:
        doc = {
            "group": group,
            "total_lag": total,
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "committed": p.committed,
                    "end": p.end,
                    "lag": p.lag,
                }
                for p in lags
            ],
            "health": health,
        }
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(f"group {group}: {total} messages behind")
        print(lag_table(lags))
        if health is not None:
            print(json.dumps(health, indent=2))
    return 0 if total == 0 else 1


def _health(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    from streams.worker.client import worker_json

    body: dict[str, object] = worker_json(settings, "/health/", worker=args.worker, timeout=10)
    return body
