"""vigil.ecs."""
