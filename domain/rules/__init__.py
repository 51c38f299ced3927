"""Rule families of the engine, one module each; :mod:`domain.derive` composes them."""
