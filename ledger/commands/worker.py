"""``ledger worker``: run the Faust enforcement worker in the foreground."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from base.settings import Settings

if TYPE_CHECKING:
    import faust

HELP = "run the Faust enforcement worker (consumes crossings and permits, emits decisions)"
DEFAULT_LOGLEVEL = "warn"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loglevel",
        default=DEFAULT_LOGLEVEL,
        choices=["crit", "error", "warn", "info", "debug"],
    )


def faust_worker(
    app: faust.App, loglevel: str, shutdown_seconds: float | None = None
) -> faust.Worker:
    """A Faust worker for ``app`` that logs at ``loglevel`` and nothing below it.

    At ``warn`` and above Faust's terminal spinner sets the root logger to DEBUG so that every
    record makes it spin: every debug call in Faust, mode and aiokafka then builds a record
    (about 8% of the worker's CPU). A worker runs as a service, where nobody watches a spinner.
    With ``shutdown_seconds`` the process exits at the latest that long after stopping began.
    """
    import faust

    from streams.worker.guard import exit_within

    class _Worker(faust.Worker):
        async def stop(self) -> None:
            if shutdown_seconds is not None:
                exit_within(shutdown_seconds)  # a hung shutdown must not linger
            await super().stop()

    worker = _Worker(app, loglevel=loglevel, quiet=True)
    worker.spinner = None
    return worker


def run(args: argparse.Namespace, settings: Settings) -> int:
    from infra.kafka_broker import ensure_topics
    from streams.worker.app import changelog_topics, create_app

    # Declare the changelogs before Faust starts: compact-only, and already in the cluster
    # metadata when Faust checks their partitions (it raced a fresh topic's metadata once).
    ensure_topics(
        settings,
        changelog_topics(settings),
        configs={"cleanup.policy": "compact"},
        role="worker",  # its ACLs allow topics prefixed with the app id, nothing else
    )
    app = create_app(settings)
    faust_worker(app, args.loglevel, settings.worker_shutdown_seconds).execute_from_commandline()
    return 0
