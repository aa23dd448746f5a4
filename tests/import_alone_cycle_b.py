"""The other half of the cycle in `tests.import_alone_cycle_a`."""

from __future__ import annotations

B = 1

from tests.import_alone_cycle_a import A  # noqa: E402  (the cycle, on purpose)

__all__ = ["A", "B"]
