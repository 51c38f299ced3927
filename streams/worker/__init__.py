"""The Faust layer: thin agents around the pure domain (decode, decide, emit)."""
