"""``ledger stay``: the EES "remaining stay" counterpart, answered offline from JSON-lines events.

Events are folded with the same engine as ``ledger check`` (the watermark is ``--at``); the output
is one JSON document listing every open stay per (traveller, jurisdiction) at ``--at`` with its
deadline and remaining seconds (negative when overdue). With ``--plan-entry DATE --jurisdiction J``
it answers, for a rolling-window jurisdiction, how long a stay entered on that local date could
last given the known stays.

``--live TRAVELLER`` asks a running worker instead (``GET /stay/{traveller}/`` on
``--worker URL``, default the local worker's web port): any worker answers, Faust forwards the
request to the one that owns the traveller's partition. ``--at`` defaults to now there.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

from base.errors import InvalidEventError
from base.settings import Settings
from domain.engine import Engine, Plan
from domain.event_data import parse_date, parse_instant
from domain.events import format_instant
from ledger.commands.check import ErrorReport
from ledger.commands.events_input import open_input, read_input_events
from schemas.mapping import stay_view_to_json_dict
from streams.edge import EdgeLimits
from streams.policy_file import load_policy

HELP = "open stays, deadlines and remaining time at an instant (EES 'remaining stay')"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the command's arguments."""
    parser.add_argument("--policy", type=Path, help="policy JSON (default: packaged policy)")
    parser.add_argument(
        "--at", metavar="INSTANT", help="instant of the answer (required offline; live: now)"
    )
    parser.add_argument("--live", metavar="TRAVELLER", help="ask the running worker instead")
    parser.add_argument(
        "--worker", metavar="URL", help="worker web URL (default http://127.0.0.1:<web port>)"
    )
    parser.add_argument("--traveller", metavar="ID", help="only this traveller")
    parser.add_argument("--plan-entry", metavar="DATE", help="plan a stay entered on this date")
    parser.add_argument("--jurisdiction", help="jurisdiction of the planned stay (e.g. SCHENGEN)")
    parser.add_argument("file", nargs="?", default="-", help="JSON-lines events, or - for stdin")


def _plan_json(p: Plan) -> dict[str, Any]:
    return {
        "traveller_id": p.traveller_id,
        "jurisdiction": p.jurisdiction,
        "rule": p.rule,
        "entry_date": p.entry_day.isoformat(),
        "last_day": p.last_day.isoformat() if p.last_day else None,
        "days": p.days,
        "deadline": format_instant(p.deadline) if p.deadline else None,
    }


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Execute ``ledger stay``."""
    if args.live is not None:
        return _live(args, settings)
    if args.at is None:
        raise InvalidEventError("--at", "required (except with --live)")
    policy = load_policy(args.policy or settings.policy_file)
    limits = EdgeLimits.from_settings(settings)
    at = parse_instant(args.at, "--at")
    limits.check_instant(at, "--at")
    plan_day: date | None = None
    if args.plan_entry is not None:
        plan_day = parse_date(args.plan_entry, "--plan-entry")
        limits.check_date(plan_day, "--plan-entry")
        if not args.jurisdiction or not args.traveller:
            raise InvalidEventError("--plan-entry", "needs --jurisdiction and --traveller")
    engine = Engine(policy)
    errors = ErrorReport(sys.stderr)
    with open_input(args.file) as source:
        for event in read_input_events(source, errors, limits):
            if event.occurred_at <= at:  # the answer is as known at --at
                engine.process(event)
    engine.advance_to(at)
    result: dict[str, Any] = {
        "at": format_instant(at),
        "policy": policy.version,
        "open_stays": [stay_view_to_json_dict(v) for v in engine.open_stays(at, args.traveller)],
    }
    if plan_day is not None:
        plan = engine.plan(args.traveller, args.jurisdiction, plan_day, at)
        if plan is None:
            raise InvalidEventError(
                "--jurisdiction", f"no rolling-window rule in {args.jurisdiction}"
            )
        result["plan"] = _plan_json(plan)
    json.dump(result, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
    return 1 if errors.count else 0


def _live(args: argparse.Namespace, settings: Settings) -> int:
    """Fetch the remaining-stay answer from a running worker and print it."""
    from urllib.parse import quote

    from streams.worker.client import worker_json

    query = None
    if args.at is not None:
        parse_instant(args.at, "--at")  # reject a naive or malformed instant here, not remotely
        query = {"at": args.at}
    body = worker_json(
        settings, f"/stay/{quote(args.live, safe='')}/", worker=args.worker, query=query
    )
    json.dump(body, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0
