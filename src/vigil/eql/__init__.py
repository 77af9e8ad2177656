"""vigil.eql."""
