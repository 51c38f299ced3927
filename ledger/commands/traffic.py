"""The simulated traffic's arguments, declared once for ``ledger simulate`` and ``ledger run``.

Both commands simulate seeded border traffic (:class:`~producers.sim_config.SimulationConfig`):
:func:`add_traffic_arguments` declares its knobs and :func:`traffic_config` reads them back, so
the two commands take the same options with the same meaning (only the default share of
violations differs: none for a data set, a few for the main job's demonstration).
"""

from __future__ import annotations

import argparse
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from producers.sim_config import SimulationConfig


def add_traffic_arguments(parser: argparse.ArgumentParser, *, violations: float) -> None:
    """Declare the simulation's arguments; ``violations`` is the default share."""
    parser.add_argument(
        "--start",
        type=date.fromisoformat,
        default=date(2025, 12, 1),
        help="first local day simulated (YYYY-MM-DD, default 2025-12-01)",
    )
    parser.add_argument("--days", type=int, default=1, help="number of days (default 1)")
    parser.add_argument(
        "--travellers", type=int, default=2000, help="number of travellers (default 2000)"
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--violations",
        type=float,
        default=violations,
        metavar="SHARE",
        help=f"share of travellers given an injected violation, 0..1 (default {violations})",
    )
    parser.add_argument(
        "--ports",
        default=None,
        metavar="CODES",
        help="comma-separated port codes to restrict the traffic to",
    )
    parser.add_argument(
        "--heartbeat-minutes",
        type=int,
        default=5,
        help="minutes between heartbeats of each port (default 5); published, each heartbeat "
        "goes to every crossings partition",
    )


def traffic_config(args: argparse.Namespace) -> SimulationConfig:
    """The :class:`SimulationConfig` the arguments of :func:`add_traffic_arguments` describe."""
    from producers.sim_config import SimulationConfig

    ports = frozenset(p.strip() for p in args.ports.split(",") if p.strip()) if args.ports else None
    return SimulationConfig(
        start=args.start,
        days=args.days,
        travellers=args.travellers,
        seed=args.seed,
        violation_share=args.violations,
        ports=ports,
        heartbeat_minutes=args.heartbeat_minutes,
    )
