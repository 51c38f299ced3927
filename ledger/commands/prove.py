"""``ledger prove``: write a self-contained proof bundle for outside auditors.

``ledger prove EVENT_ID...`` proves stored events; ``--decision ID`` proves every emission of a
decision and every event of its evidence; ``--consistency TOPIC PARTITION OLD NEW`` proves that
the log's checkpoint of size NEW extends the one of size OLD. The bundle (JSON) is checked with
``auditor/verify_bundle.py`` and the public key alone (docs/auditors.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from base.settings import Settings
from ledger.commands.store_options import add_store_option

HELP = "write a proof bundle (record, inclusion proof, signed checkpoint, public key)"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options."""
    parser.add_argument("event_ids", nargs="*", metavar="EVENT_ID", help="events to prove")
    parser.add_argument("--decision", metavar="DECISION_ID", help="prove a decision and evidence")
    parser.add_argument(
        "--consistency",
        nargs=4,
        metavar=("TOPIC", "PARTITION", "OLD_SIZE", "NEW_SIZE"),
        help="prove that one checkpoint extends another",
    )
    parser.add_argument("-o", "--output", type=Path, help="bundle file (default: stdout)")
    add_store_option(parser)
    parser.add_argument(
        "--public-key", type=Path, help="hex public key file (default: <signing key>.pub)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Write the bundle; 0 on success, 2 when nothing was asked for."""
    from streams.store import opened_store
    from streams.trust.keys import Verifier, public_key_path
    from streams.trust.prove import consistency_bundle, decision_bundle, event_bundle

    if bool(args.event_ids) + bool(args.decision) + bool(args.consistency) != 1:
        print("ledger prove: give EVENT_IDs, --decision or --consistency", file=sys.stderr)
        return 2
    verifier = Verifier.load(args.public_key or public_key_path(settings.signing_key.expanduser()))
    with opened_store(settings, "investigator", args.store) as store:
        if args.decision:
            bundle = decision_bundle(store, settings, verifier, args.decision)
        elif args.consistency:
            topic, partition, old, new = args.consistency
            bundle = consistency_bundle(
                store,
                settings,
                verifier,
                topic,
                int(partition),
                old_size=int(old),
                new_size=int(new),
            )
        else:
            bundle = event_bundle(store, settings, verifier, list(args.event_ids))
    text = json.dumps(bundle, indent=2, sort_keys=True) + "\n"
    if args.output:
        args.output.write_text(text, "utf-8")
        print(f"wrote {args.output} ({len(bundle['records'])} records)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
