"""vigil.rules."""
