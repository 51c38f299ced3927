"""``ledger run``: the main job (see :mod:`ledger.job`)."""

from __future__ import annotations

import argparse
from datetime import date

from base.settings import Settings

HELP = "the main job: Kafka + chDB, a simulated day through worker and sink, audit summary"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 12, 1))
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--travellers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--violations", type=float, default=0.05, help="share of travellers 0..1")
    parser.add_argument(
        "--heartbeat-minutes",
        type=int,
        default=5,
        help="minutes between heartbeats of each port, each sent to every crossings partition",
    )
    parser.add_argument(
        "--malformed", type=int, default=3, help="malformed messages to inject (0..3)"
    )
    parser.add_argument("--keep-services", action="store_true", help="leave Kafka running")
    parser.add_argument("--timeout", type=float, default=600.0, help="per-stage limit, seconds")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from ledger.job import JobOptions, run_job

    options = JobOptions(
        start=args.start,
        days=args.days,
        travellers=args.travellers,
        seed=args.seed,
        violation_share=args.violations,
        heartbeat_minutes=args.heartbeat_minutes,
        malformed=args.malformed,
        keep_services=args.keep_services,
        timeout_seconds=args.timeout,
    )
    return run_job(settings, options)
