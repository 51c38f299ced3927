"""Rule families of the engine, one module each; :mod:`streams.domain.derive` composes them."""
