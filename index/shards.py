"""A collection split over shards: each shard searches its own faces; the caller merges their
answers into one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def merge_topk(results: Sequence[tuple[np.ndarray, np.ndarray]],
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """The best `k` (scores, face ids) per query over every shard's answer, each Q×kᵢ and best
    first, id -1 where a shard had fewer faces: Q×k, best first (an earlier shard first on a
    tie), padded with -inf and -1."""
    if not results:
        raise ValueError("no shard answered")
    scores = np.hstack([s for s, _ in results]).astype(np.float32, copy=False)
    ids = np.hstack([i for _, i in results]).astype(np.int64, copy=False)
    scores = np.where(ids < 0, -np.inf, scores)
    if scores.shape[1] < k:
        pad = k - scores.shape[1]
        scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
        ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)
