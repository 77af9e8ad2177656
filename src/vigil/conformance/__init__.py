"""vigil.conformance."""
