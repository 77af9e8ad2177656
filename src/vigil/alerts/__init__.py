"""vigil.alerts."""
