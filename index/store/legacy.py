"""Galleries made before the store's migrations were Alembic's: their schema steps, counted by
`PRAGMA user_version` (SQLite only, as every such gallery is). A gallery at an earlier step is
brought to the last of them, then handed to Alembic as revision 0001.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

MIGRATIONS: list[str] = [
    # 1: the gallery
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE people (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        note TEXT NOT NULL DEFAULT '',
        created TEXT NOT NULL
    );
    CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        added TEXT NOT NULL
    );
    CREATE TABLE faces (
        id INTEGER PRIMARY KEY,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        box TEXT NOT NULL,
        landmarks TEXT NOT NULL,
        score REAL NOT NULL,
        sharpness REAL NOT NULL,
        chip BLOB NOT NULL,
        chip_landmarks TEXT NOT NULL,
        added TEXT NOT NULL
    );
    CREATE INDEX faces_person ON faces(person_id);
    CREATE INDEX faces_photo ON faces(photo_id);
    CREATE TABLE embeddings (
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (face_id, model)
    );
    """,
    # 2: API keys of the HTTP service (only their hashes)
    """
    CREATE TABLE api_keys (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        scope TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL,
        last_used TEXT
    );
    """,
    # 3: album tagging: jobs, the photos seen, and every face found in them
    """
    CREATE TABLE album_jobs (
        id INTEGER PRIMARY KEY,
        root TEXT NOT NULL,
        status TEXT NOT NULL,
        xmp INTEGER NOT NULL DEFAULT 0,
        created TEXT NOT NULL,
        updated TEXT NOT NULL,
        total INTEGER NOT NULL DEFAULT 0,
        done INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        faces INTEGER NOT NULL DEFAULT 0,
        named INTEGER NOT NULL DEFAULT 0,
        unknown INTEGER NOT NULL DEFAULT 0,
        skipped INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        error TEXT
    );
    CREATE TABLE album_photos (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime REAL NOT NULL,
        sha256 TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        model TEXT NOT NULL,
        job_id INTEGER,
        tagged TEXT NOT NULL
    );
    CREATE TABLE album_faces (
        id INTEGER PRIMARY KEY,
        photo_id INTEGER NOT NULL REFERENCES album_photos(id) ON DELETE CASCADE,
        box TEXT NOT NULL,
        landmarks TEXT NOT NULL,
        score REAL NOT NULL,
        person_id INTEGER REFERENCES people(id) ON DELETE CASCADE,
        similarity REAL,
        cluster INTEGER,
        chip BLOB NOT NULL,
        chip_landmarks TEXT NOT NULL,
        model TEXT NOT NULL,
        vector BLOB NOT NULL
    );
    CREATE INDEX album_faces_photo ON album_faces(photo_id);
    CREATE INDEX album_faces_person ON album_faces(person_id);
    CREATE INDEX album_faces_cluster ON album_faces(cluster);
    """,
    # 4: each enrolled face's nearest other person's face and nearest face of its own person
    # (index.calibration: the gallery's own estimate of how often a stranger is named)
    """
    CREATE TABLE nearest (
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        impostor REAL NOT NULL,
        impostor_face INTEGER NOT NULL,
        genuine REAL,
        genuine_face INTEGER,
        PRIMARY KEY (face_id, model)
    );
    CREATE INDEX nearest_impostor ON nearest(impostor_face);
    CREATE INDEX nearest_genuine ON nearest(genuine_face);
    -- a face deleted or moved to another person (a merge): every row that names it is
    -- computed again (face ids can be reused, so a row must not outlive its face)
    CREATE TRIGGER nearest_face_deleted AFTER DELETE ON faces BEGIN
        DELETE FROM nearest WHERE face_id = OLD.id OR impostor_face = OLD.id
            OR genuine_face = OLD.id;
    END;
    CREATE TRIGGER nearest_face_moved AFTER UPDATE OF person_id ON faces BEGIN
        DELETE FROM nearest WHERE face_id = OLD.id OR impostor_face = OLD.id
            OR genuine_face = OLD.id;
    END;
    CREATE TRIGGER nearest_vector_changed AFTER UPDATE OF vector ON embeddings BEGIN
        DELETE FROM nearest WHERE model = OLD.model AND (face_id = OLD.face_id
            OR impostor_face = OLD.face_id OR genuine_face = OLD.face_id);
    END;
    """,
    # 5: what an album job could not do, photo by photo (unreadable files, sidecars left
    # alone, names in a sidecar that differ from facepair's)
    """
    CREATE TABLE album_problems (
        id INTEGER PRIMARY KEY,
        job_id INTEGER NOT NULL REFERENCES album_jobs(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        problem TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX album_problems_job ON album_problems(job_id);
    -- the process running a job (its pid; NULL: waiting for one), whether a service job may
    -- be taken up by another process when its own is gone, and a cancel asked by any process
    ALTER TABLE album_jobs ADD COLUMN owner INTEGER;
    ALTER TABLE album_jobs ADD COLUMN resumable INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE album_jobs ADD COLUMN cancel INTEGER NOT NULL DEFAULT 0;
    """,
    # 6: the names people gave in other tools (faces.tags): a photo's tag files as last
    # read (their sizes and times), and album faces named by such a tag, not by facepair
    """
    ALTER TABLE album_photos ADD COLUMN tags TEXT NOT NULL DEFAULT '';
    ALTER TABLE album_faces ADD COLUMN named_by TEXT;
    -- a job's XMP goes into the JPEGs themselves (embed), and what the job is: tagging the
    -- album, or importing its face tags (import)
    ALTER TABLE album_jobs ADD COLUMN embed INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE album_jobs ADD COLUMN kind TEXT NOT NULL DEFAULT 'tag';
    """,
    # 7: curation. A face a user said is not someone (its vector, so that it is never named
    # as them again, whatever photo it comes back in); per album face: the person it came
    # closest to when named as no one (a suggestion), whether the user hid it or split it off
    # its group, or skipped it as a suggestion
    """
    CREATE TABLE exclusions (
        id INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        vector BLOB NOT NULL,
        created TEXT NOT NULL
    );
    CREATE INDEX exclusions_person ON exclusions(person_id);
    ALTER TABLE album_faces ADD COLUMN candidate_id INTEGER
        REFERENCES people(id) ON DELETE SET NULL;
    ALTER TABLE album_faces ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE album_faces ADD COLUMN ungrouped INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE album_faces ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
    """,
]


def statements(script: str) -> Iterator[str]:
    """The SQL statements of a script (a trigger's body holds semicolons of its own)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


def upgrade(execute: Callable[[str], Any]) -> bool:
    """Bring a gallery of the old numbering to its last step, within the caller's
    transaction (`execute` runs one statement and gives its result); whether it was one (an
    empty file, or one that Alembic migrates, is not)."""
    version = execute("PRAGMA user_version").scalar()
    if not version:
        return False
    for step, script in enumerate(MIGRATIONS[version:], start=version + 1):
        for statement in statements(script):
            execute(statement)
        execute(f"PRAGMA user_version={step}")
    return True
