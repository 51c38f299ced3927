"""``ledger keys init``: create the Ed25519 key that signs checkpoints, outside the repository.

The private key goes to ``settings.signing_key`` (``LEDGER_SIGNING_KEY``), owner-only; the public
key, hex, to ``<that path>.pub``: hand that file to verifiers and outside auditors.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from base.settings import Settings

HELP = "create the checkpoint signing key (outside the repository) and export its public key"


def configure(parser: argparse.ArgumentParser) -> None:
    """Declare the subcommand's options."""
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = sub.add_parser("init", help="create a new signing key")
    init.add_argument("--path", type=Path, help="key file (default: settings.signing_key)")
    init.add_argument("--force", action="store_true", help="replace an existing key")
    show = sub.add_parser("show", help="print the public key and its id")
    show.add_argument("--path", type=Path, help="key file (default: settings.signing_key)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Create or show the key; 0 on success (errors are LedgerErrors, exit 2)."""
    from streams.trust.keys import Signer, init_key, public_key_path

    path: Path = (args.path or settings.signing_key).expanduser()
    signer = init_key(path, force=args.force) if args.action == "init" else Signer.load(path)
    print(f"signing key: {path}")
    print(f"public key:  {public_key_path(path)} (give this file to verifiers)")
    print(f"key id:      {signer.key_id}")
    print(f"ed25519:     {signer.public_raw.hex()}")
    return 0
