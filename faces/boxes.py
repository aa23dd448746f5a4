"""Face boxes and how much two of them overlap."""

from __future__ import annotations

from collections.abc import Sequence

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 (in pixels of the upright photo)

# IoU above which two regions (from two files or standards, or another tool's and facepair's)
# mark the same face
SAME_REGION_IOU = 0.5


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes (x1, y1, x2, y2); 0 where both are empty."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
