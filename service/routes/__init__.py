"""The HTTP API's routers: people, recognition, albums, and ops (health, metrics, the page)."""
