"""``ledger guide``: render the investigator's guide from the configured store.

Runs every question of ``streams.guide`` as the read-only investigator and writes the markdown,
each query followed by its real output, to ``--out`` (or stdout). The published guide is made
with ``make run`` followed by ``ledger guide --out docs/investigator-guide.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from base.settings import Settings
from ledger.commands.store_options import add_store_option

HELP = "render the investigator's guide (questions, SQL and their answers from the store)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options."""
    parser.add_argument("--out", type=Path, help="markdown file to write (default: stdout)")
    add_store_option(parser)
    parser.add_argument(
        "--data-note",
        metavar="TEXT",
        help="what the store holds, for the guide's header (default: the `make run` day)",
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Query the store and write the guide."""
    from streams.guide import DEFAULT_DATA_NOTE, render, run_questions
    from streams.store import opened_store

    with opened_store(settings, "investigator", args.store) as store:
        answers = run_questions(store)
        backend = store.backend
    text = render(answers, backend=backend, data_note=args.data_note or DEFAULT_DATA_NOTE)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out} ({len(answers)} questions)", file=sys.stderr)
    return 0
