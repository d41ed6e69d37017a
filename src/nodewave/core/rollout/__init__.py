"""How a version reaches the nodes: the engine's phases and gates, waves, maintenance windows, restarts, webhook gates."""
