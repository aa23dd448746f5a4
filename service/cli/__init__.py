"""The `facepair` command line (`service.cli.app` assembles it)."""

from service.cli.app import app, main

__all__ = ["app", "main"]
