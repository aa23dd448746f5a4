"""facepair's user-facing layers: the `facepair` CLI (and, later, the HTTP API)."""
