"""facepair's user-facing layers: the `facepair` CLI, the HTTP API and its web page."""
