"""Groups of unknown faces: DBSCAN (scikit-learn) on cosine distance.

Importing scikit-learn costs about a second and a half of CPU (scipy.stats mostly). In a
tagging run that second lands on cores the album workers need, so `facepair tag` starts a
`ClusterHelper` before anything else: a small forked process that imports scikit-learn on the
core left idle while the main process imports torch, then clusters on request. A `ClusterHelper`
stands in for `dbscan_labels` wherever one is passed; without one, the caller's process imports
scikit-learn itself. This module imports neither torch nor scikit-learn.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
from multiprocessing.connection import Connection

import numpy as np


def dbscan_labels(vectors: np.ndarray, eps: float) -> np.ndarray:
    """A group number per vector (-1: in no group): DBSCAN on cosine distance, groups of at
    least 2 faces within `eps` of each other."""
    if len(vectors) < 2:
        return np.full(len(vectors), -1)
    from sklearn.cluster import DBSCAN

    return DBSCAN(eps=eps, min_samples=2, metric="cosine").fit_predict(vectors)


def _serve(conn: Connection, parents_end: Connection) -> None:
    parents_end.close()  # forked with it open: closed here, the parent's death reads as EOF
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    import sklearn.cluster  # noqa: F401  (the point of this process: imported ahead of need)

    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if request is None:
            return
        conn.send(dbscan_labels(*request))


class ClusterHelper:
    """`dbscan_labels` in a forked process that imported scikit-learn as soon as it started.
    Where processes cannot be forked, it clusters in the calling process."""

    def __init__(self) -> None:
        self._conn: Connection | None = None
        self._process: mp.process.BaseProcess | None = None
        if "fork" in mp.get_all_start_methods():
            context = mp.get_context("fork")
            self._conn, child = context.Pipe()
            self._process = context.Process(target=_serve, args=(child, self._conn),
                                            daemon=True,
                                            name="facepair-clusters")
            self._process.start()
            child.close()

    def __call__(self, vectors: np.ndarray, eps: float) -> np.ndarray:
        if self._conn is None or self._process is None or not self._process.is_alive():
            return dbscan_labels(vectors, eps)
        try:
            self._conn.send((np.ascontiguousarray(vectors, dtype=np.float32), float(eps)))
            return self._conn.recv()
        except (EOFError, OSError):  # the helper died: cluster here
            return dbscan_labels(vectors, eps)

    def close(self) -> None:
        if self._conn is not None and self._process is not None:
            if self._process.is_alive():
                with contextlib.suppress(OSError):
                    self._conn.send(None)
                self._process.join(timeout=5)
            self._conn.close()
            self._conn = self._process = None

    def __enter__(self) -> ClusterHelper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
