"""One module imported in a process of its own, for `tests/test_layout.py`: forked from a
process that loaded only third-party libraries (the slow part of most imports), never any of
facepair's own modules, so an import cycle that only the right order hides still fails."""

from __future__ import annotations

import importlib

THIRD_PARTY = ("numpy", "torch", "scipy", "sqlalchemy", "pydantic", "fastapi", "PIL", "faiss",
               "typer", "rich", "httpx", "safetensors")


def import_alone(name: str) -> str:
    """Import `name`: "" where it imports, else why not."""
    try:
        importlib.import_module(name)
    except BaseException as exc:  # a module's import may raise anything
        return f"{type(exc).__name__}: {exc}"
    return ""
