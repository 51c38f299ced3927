"""``python -m streams`` is the same as the ``ledger`` command."""

import sys

from streams.cli import main

sys.exit(main())
