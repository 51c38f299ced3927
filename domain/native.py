"""Whether the domain runs as native code, compiled by mypyc (``scripts/build_native.py``).

A few constructors on the engine's hot path build immutable objects a different way in each mode.
Interpreted, a frozen dataclass is fastest built by setting its slots directly (its generated
``__init__`` calls ``object.__setattr__`` once per field). Compiled, the class's own constructor
is a direct C call, and ``object.__new__`` of a native class is refused.
"""

from typing import Final

# Every module of the package is compiled together, or none is (domain/__init__.py).
NATIVE: Final = not __file__.endswith(".py")
