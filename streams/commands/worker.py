"""``ledger worker``: run the Faust enforcement worker in the foreground."""

from __future__ import annotations

import argparse

from streams.settings import Settings

HELP = "run the Faust enforcement worker (consumes crossings and permits, emits decisions)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--loglevel", default="warn", choices=["crit", "error", "warn", "info", "debug"]
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    import faust

    from infra.kafka_broker import ensure_topics
    from streams.worker.app import changelog_topics, create_app

    # Declare the changelogs before Faust starts: compact-only, and already in the cluster
    # metadata when Faust checks their partitions (it raced a fresh topic's metadata once).
    ensure_topics(settings, changelog_topics(settings), configs={"cleanup.policy": "compact"})
    from streams.worker.guard import exit_within

    class _Worker(faust.Worker):
        async def stop(self) -> None:
            exit_within(settings.worker_shutdown_seconds)  # a hung shutdown must not linger
            await super().stop()

    app = create_app(settings)
    worker = _Worker(app, loglevel=args.loglevel, quiet=True)
    worker.execute_from_commandline()
    return 0
