"""``python -m infra ACTION [SERVICE]`` is the same as ``ledger infra ACTION [SERVICE]``."""

import sys

from streams.cli import main

sys.exit(main(["infra", *sys.argv[1:]]))
