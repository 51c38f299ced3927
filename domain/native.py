"""Whether the domain runs as native code, compiled by mypyc (``infra/build_native.py``).

Compiled, ``object.__new__`` of a native class is refused, and a class whose ``__init__`` is
compiled runs it from its ``__new__`` too: ``state.new_state`` then builds a state through its
constructor (holding nothing) before filling its slots. The frozen dataclasses need no such
switch: their own ``__new__`` allocates without running ``__init__`` in both modes.
"""

from typing import Final

# Every module of the package is compiled together, or none is (domain/__init__.py).
NATIVE: Final = not __file__.endswith(".py")
