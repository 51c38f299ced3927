"""The single ``ledger`` entry point: a thin dispatcher over subcommand modules.

Each subcommand lives in its own module exposing ``HELP`` (one line), ``configure(parser)`` and
``run(args, settings) -> int``. Command modules import heavy dependencies (Faust, Kafka, chDB)
inside ``run`` so that ``ledger --help`` and ``ledger check`` start fast. Nothing runs at import.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from base.errors import LedgerError
from base.settings import Settings

# name -> module implementing the subcommand.
COMMANDS: dict[str, str] = {
    "run": "ledger.commands.run",
    "check": "ledger.commands.check",
    "stay": "ledger.commands.stay",
    "simulate": "ledger.commands.simulate",
    "publish": "ledger.commands.publish",
    "worker": "ledger.commands.worker",
    "lag": "ledger.commands.lag",
    "sink": "ledger.commands.sink",
    "sql": "ledger.commands.sql",
    "asof": "ledger.commands.asof",
    "guide": "ledger.commands.guide",
    "keys": "ledger.commands.keys",
    "verify": "ledger.commands.verify",
    "prove": "ledger.commands.prove",
    "retention": "ledger.commands.retention",
    "infra": "ledger.commands.infra",
}


def _load(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ledger", description="Event-sourced border-crossing ledger."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = _load(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    try:
        code: int = args._module.run(args, settings)
    except LedgerError as e:
        print(f"ledger {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
