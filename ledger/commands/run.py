"""``ledger run``: the main job (see :mod:`ledger.job`)."""

from __future__ import annotations

import argparse

from base.settings import Settings
from ledger.commands.traffic import add_traffic_arguments, traffic_config

HELP = "the main job: Kafka + chDB, a simulated day through worker and sink, audit summary"


def configure(parser: argparse.ArgumentParser) -> None:
    add_traffic_arguments(parser, violations=0.05)
    parser.add_argument(
        "--malformed", type=int, default=3, help="malformed messages to inject (0..3)"
    )
    parser.add_argument("--keep-services", action="store_true", help="leave Kafka running")
    parser.add_argument("--timeout", type=float, default=600.0, help="per-stage limit, seconds")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.job import JobOptions, run_job

    options = JobOptions(
        traffic=traffic_config(args),
        malformed=args.malformed,
        keep_services=args.keep_services,
        timeout_seconds=args.timeout,
    )
    return run_job(settings, options)
