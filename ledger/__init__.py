"""The top layer, the one composition root: the ``ledger`` command, its subcommands, the main job.

Nothing below imports it. Each subcommand module wires settings into the domain and the adapters
(``schemas``, ``streams``, ``producers``, ``infra``) and nothing runs at import time.
"""
