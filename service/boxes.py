"""A face's box as the user writes it (`x1,y1,x2,y2`): one parser for the CLI's `--box` and
the API's `box` field."""

from __future__ import annotations

import math


def parse_box(text: str) -> list[float]:
    """The four coordinates; ValueError naming the problem for anything else (not four
    numbers, not finite, or an empty box)."""
    try:
        box = [float(v) for v in text.split(",")]
    except ValueError:
        box = []
    if len(box) != 4 or not all(map(math.isfinite, box)) or box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f"a box is x1,y1,x2,y2 (finite numbers) with x2>x1 and y2>y1, not "
                         f"{text[:50]!r}")
    return box
