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

from streams.domain.errors import LedgerError
from streams.settings import Settings

# name -> module implementing the subcommand.
COMMANDS: dict[str, str] = {
    "run": "streams.commands.run",
    "check": "streams.commands.check",
    "stay": "streams.commands.stay",
    "simulate": "producers.commands.simulate",
    "publish": "producers.commands.publish",
    "worker": "streams.commands.worker",
    "lag": "streams.commands.lag",
    "sink": "streams.commands.sink",
    "sql": "streams.commands.sql",
    "asof": "streams.commands.asof",
    "guide": "streams.commands.guide",
    "keys": "streams.commands.keys",
    "verify": "streams.commands.verify",
    "prove": "streams.commands.prove",
    "retention": "streams.commands.retention",
    "infra": "infra.commands",
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
