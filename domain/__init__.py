"""The domain: events, policy, rules and the engine, pure functions of events and event time.

Its modules may run compiled by mypyc, or from their sources: :mod:`base.native` chooses, here,
before any of them is imported.
"""

from base.native import choose_modules

choose_modules(list(__path__))
