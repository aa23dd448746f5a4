"""Half of an import cycle that only the right order hides (`tests/test_layout.py`): imported
first, it fails; after `tests.import_alone_cycle_b`, it imports."""

from __future__ import annotations

from tests.import_alone_cycle_b import B

A = B + 1
