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

    from streams.worker.app import create_app

    app = create_app(settings)
    worker = faust.Worker(app, loglevel=args.loglevel, quiet=True)
    worker.execute_from_commandline()
    return 0
