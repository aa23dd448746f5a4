"""Makes a gallery as facepair wrote them before the store's migrations were Alembic's
(schema step 7 of `PRAGMA user_version`): raw SQL, the ids a `last_id:*` counter kept, the
boxes as JSON text, vectors as float32 bytes, a job owned by a process id. Run it as a script
(`python -m tests.legacy_gallery PATH`) or call `make`."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import numpy as np

from index.store.legacy import MIGRATIONS, statements

WHEN = "2026-11-30T10:00:00+00:00"
VECTORS = np.eye(4, 8, dtype=np.float32)  # four faces' embeddings


def make(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("BEGIN")
    for step, script in enumerate(MIGRATIONS, start=1):
        for statement in statements(script):
            conn.execute(statement)
        conn.execute(f"PRAGMA user_version={step}")
    run = conn.execute
    # people 1 and 2 remain; ids up to 9 were given and their rows deleted
    run("INSERT INTO people VALUES (1, 'Ann', 'sister', ?), (2, 'Bob', '', ?)", (WHEN, WHEN))
    run("INSERT INTO photos VALUES (1, ?, 'ann.jpg', 250, 250, ?), (2, ?, 'bob.jpg', 250, 250, ?)",
        ("a" * 64, WHEN, "b" * 64, WHEN))
    for face_id, (photo, person) in enumerate([(1, 1), (1, 1), (2, 2), (2, 2)], start=1):
        run("INSERT INTO faces VALUES (?, ?, ?, ?, ?, 0.99, 12.5, ?, ?, ?)",
            (face_id, photo, person, json.dumps([10.0 * face_id, 20.0, 90.0, 120.0]),
             json.dumps([[30.0, 50.0]] * 5), b"\xff\xd8chip%d" % face_id,
             json.dumps([[38.3, 51.7]] * 5), WHEN))
        run("INSERT INTO embeddings VALUES (?, 'dlib-pairs', ?)",
            (face_id, VECTORS[face_id - 1].astype("<f4").tobytes()))
    run("INSERT INTO nearest VALUES (1, 'dlib-pairs', 0.3, 3, 0.8, 2)")
    run("INSERT INTO meta VALUES ('last_id:people', '9'), ('last_id:photos', '2'), "
        "('last_id:faces', '4'), ('generation', '17'), ('threshold:dlib-pairs', '0.61')")
    run("INSERT INTO exclusions VALUES (1, 2, 'dlib-pairs', ?, ?)",
        (VECTORS[0].astype("<f4").tobytes(), WHEN))
    run("INSERT INTO api_keys VALUES (1, 'laptop', 'write', ?, ?, NULL)", ("f" * 64, WHEN))
    run("INSERT INTO album_jobs(id, root, status, xmp, created, updated, total, done, faces, "
        "named, owner, resumable, cancel, embed, kind) VALUES "
        "(1, '/photos', 'done', 1, ?, ?, 2, 2, 2, 1, 4242, 1, 0, 0, 'tag')", (WHEN, WHEN))
    run("INSERT INTO album_problems VALUES (1, 1, '/photos/broken.jpg', 'unreadable', 'x')")
    run("INSERT INTO album_photos VALUES (1, '/photos/a.jpg', 1000, 1.5, ?, 640, 480, "
        "'dlib-pairs', 1, ?, '')", ("c" * 64, WHEN))
    run("INSERT INTO album_faces(id, photo_id, box, landmarks, score, person_id, similarity, "
        "cluster, chip, chip_landmarks, model, vector, named_by, candidate_id, hidden, "
        "ungrouped, skipped) VALUES (1, 1, ?, ?, 0.98, 1, 0.72, NULL, ?, ?, 'dlib-pairs', ?, "
        "NULL, NULL, 0, 0, 0), (2, 1, ?, ?, 0.97, NULL, 0.41, 1, ?, ?, 'dlib-pairs', ?, NULL, "
        "2, 0, 0, 0)",
        (json.dumps([1.0, 2.0, 50.0, 60.0]), json.dumps([[9.0, 9.0]] * 5), b"album1",
         json.dumps([[40.0, 50.0]] * 5), VECTORS[2].astype("<f4").tobytes(),
         json.dumps([100.0, 2.0, 150.0, 60.0]), json.dumps([[109.0, 9.0]] * 5), b"album2",
         json.dumps([[40.0, 50.0]] * 5), VECTORS[3].astype("<f4").tobytes()))
    run("COMMIT")
    conn.close()


if __name__ == "__main__":
    make(Path(sys.argv[1]))
