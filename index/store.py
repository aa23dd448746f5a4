"""The gallery's persistent store: one SQLite file in `FACEPAIR_HOME`.

It holds people, the photos they were enrolled from (content hash and source name), their faces
(box, landmarks, detector score, sharpness), a face chip of each (so every face can be
re-embedded by any later model) and the embeddings, tagged with the model that made them.

- WAL journal with `synchronous=FULL`: a call that returned has reached the disk, so an
  acknowledged enrollment survives kill -9 and power loss.
- `secure_delete=ON` and a WAL checkpoint after deletes: a deleted person's rows are overwritten
  with zeros in the file, not left in free pages.
- Migrations: `PRAGMA user_version` counts the schema steps applied; `MIGRATIONS` holds them.
- One connection per thread (SQLite connections are not shared between threads); writes take
  `BEGIN IMMEDIATE`, so concurrent writers queue instead of failing.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import resource
import sqlite3
import threading
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from faces.errors import NotFound
from index.errors import Conflict, Refused, StorageFull, StoreBusy

log = logging.getLogger("facepair.store")

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


# the highest id each table has given is kept in `meta` under its key (see `Store._new_id`)
_LAST_ID = {"people": ("last_id:people", "SELECT COALESCE(MAX(id), 0) FROM people"),
            "photos": ("last_id:photos", "SELECT COALESCE(MAX(id), 0) FROM photos"),
            "faces": ("last_id:faces", "SELECT COALESCE(MAX(id), 0) FROM faces")}


def _full(exc: BaseException, path: Path) -> bool:
    """An error that says the disk, or the file size this process may write, is full. SQLite
    says "disk I/O error" where a write hit the file size limit (EFBIG): that one counts when
    the gallery's files reach the limit or the disk has under 1 MB left."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    if "full" in str(exc):
        return True
    if "disk I/O" not in str(exc):
        return False
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    sizes = [f.stat().st_size for f in path.parent.glob(path.name + "*") if f.is_file()]
    disk = os.statvfs(path.parent)
    return ((limit != resource.RLIM_INFINITY and max(sizes, default=0) >= limit - (1 << 16))
            or disk.f_bavail * disk.f_frsize < (1 << 20))


def statements(script: str) -> Iterator[str]:
    """The SQL statements of a script (a trigger's body holds semicolons of its own)."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                yield pending
            pending = ""


NAME_LIMIT = 200  # characters
# joiners that Persian, Indic and emoji names need; every other format character is refused
JOINERS = {"\u200c", "\u200d"}


def checked_name(name: str) -> str:
    """A person's name as stored: NFC, trimmed, at most NAME_LIMIT characters, and none that
    is a control, format (zero-width joiners aside), surrogate or unassigned character: such
    characters cannot go into the XMP sidecars that carry names, or hide what a name shows.
    One rule for the CLI and the API (422, a code naming the problem)."""
    name = unicodedata.normalize("NFC", name).strip()
    if not name:
        raise Refused("empty_name", "a person needs a non-empty name")
    if len(name) > NAME_LIMIT:
        raise Refused("name_too_long", f"a name holds at most {NAME_LIMIT} characters "
                      f"(this one {len(name)})")
    bad = [c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Cn")
           and c not in JOINERS]
    if bad:
        raise Refused("invalid_name", "a name cannot hold control, format or unassigned "
                      f"characters ({', '.join(f'U+{ord(c):04X}' for c in sorted(set(bad)))})")
    return name


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    note: str
    created: str
    faces: int = 0
    face_id: int | None = None  # the sharpest enrolled face: the person's picture

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "note": self.note, "created": self.created,
                "faces": self.faces, "face_id": self.face_id}


@dataclass(frozen=True)
class StoredFace:
    id: int
    photo_id: int
    person_id: int
    box: list[float]
    landmarks: list[list[float]]
    score: float
    sharpness: float
    source: str

    def to_dict(self) -> dict:
        return {"id": self.id, "photo_id": self.photo_id, "person_id": self.person_id,
                "box": self.box, "score": self.score, "sharpness": self.sharpness,
                "source": self.source}


class Store:
    """The SQLite gallery file. Thread-safe: each thread gets its own connection."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._migrate()

    # -- connections and transactions -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA secure_delete=ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def write(self, gallery: bool = True) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed (and on disk) when the block ends, else rolled back.
        One that may change the gallery (people, faces, embeddings) bumps the store's
        generation, which tells every process's search index to catch up; `last_write()`
        tells this thread the generation before and after its last such commit (so a process
        can tell whether another one wrote in between). Album bookkeeping passes
        `gallery=False`: it leaves the index alone."""
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise StoreBusy("the gallery is busy writing; try again shortly") from exc
            raise
        try:
            before = self._generation(conn)
            yield conn
            if gallery:
                conn.execute("INSERT INTO meta(key, value) VALUES('generation', ?) ON "
                             "CONFLICT(key) DO UPDATE SET value=excluded.value", (str(before + 1),))
            conn.execute("COMMIT")
        except BaseException as exc:
            self._roll_back(conn)
            if _full(exc, self.path):
                raise StorageFull("the disk holding the gallery is full: nothing of this "
                                  "was stored") from exc
            raise
        if gallery:
            self._local.last_write = (before, before + 1)

    def _roll_back(self, conn: sqlite3.Connection) -> None:
        """End a failed transaction. Where even the rollback fails (a full disk), the
        connection is closed, which rolls back and lets go of the write lock: a connection
        left inside a transaction would hold every other writer off."""
        if not conn.in_transaction:
            return
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:
            with self._lock:
                if conn in self._connections:
                    self._connections.remove(conn)
            self._local.conn = None
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def last_write(self) -> tuple[int, int]:
        return getattr(self._local, "last_write", (-1, -1))

    @staticmethod
    def _generation(conn: sqlite3.Connection) -> int:
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        except sqlite3.OperationalError:  # before the first migration
            return 0
        return 0 if row is None else int(row[0])

    def read(self) -> sqlite3.Connection:
        return self._connect()

    def _migrate(self) -> None:
        if self.read().execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
            return
        with self.write() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for step, script in enumerate(MIGRATIONS[version:], start=version + 1):
                for statement in statements(script):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version={step}")

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.ProgrammingError):  # thread has ended
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    def compact(self) -> None:
        """Fold the WAL into the main file and truncate it (after deletes: no old copies left).
        Busy readers, or a full disk, leave it for the next checkpoint: what was committed
        stays committed, so this never fails the delete that asked for it."""
        try:
            self.read().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            log.warning("WAL checkpoint left for later", exc_info=True)

    # -- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.read().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return default if row is None else row[0]

    def delete_meta(self, conn: sqlite3.Connection, key: str) -> None:
        conn.execute("DELETE FROM meta WHERE key=?", (key,))

    def face_people(self) -> dict[int, int]:
        """Every enrolled face's person."""
        return {int(r[0]): int(r[1]) for r in
                self.read().execute("SELECT id, person_id FROM faces").fetchall()}

    def face_ids(self) -> list[int]:
        return [int(r[0]) for r in self.read().execute("SELECT id FROM faces ORDER BY id")]

    def set_meta(self, conn: sqlite3.Connection, key: str, value: str) -> None:
        conn.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE "
                     "SET value=excluded.value", (key, value))

    def generation(self) -> int:
        """Bumped by every write that may change the gallery: tells a saved index, or another
        process, it is stale."""
        return self._generation(self.read())

    # -- people -----------------------------------------------------------------------------

    def _person(self, row: sqlite3.Row) -> Person:
        return Person(row["id"], row["name"], row["note"], row["created"], row["faces"],
                      row["face_id"])

    _PEOPLE = ("SELECT p.id, p.name, p.note, p.created, "
               "(SELECT COUNT(*) FROM faces f WHERE f.person_id = p.id) AS faces, "
               "(SELECT f.id FROM faces f WHERE f.person_id = p.id "
               "ORDER BY f.sharpness DESC, f.id LIMIT 1) AS face_id FROM people p")

    def people(self) -> list[Person]:
        rows = self.read().execute(self._PEOPLE + " ORDER BY p.name COLLATE NOCASE").fetchall()
        return [self._person(r) for r in rows]

    def person(self, person_id: int) -> Person:
        row = self.read().execute(self._PEOPLE + " WHERE p.id=?", (person_id,)).fetchone()
        if row is None:
            raise NotFound(f"no person with id {person_id}")
        return self._person(row)

    def person_by_name(self, name: str) -> Person | None:
        """A person by exact name (NFC, trimmed, as names are stored)."""
        name = unicodedata.normalize("NFC", name).strip()
        row = self.read().execute(self._PEOPLE + " WHERE p.name=?", (name,)).fetchone()
        return None if row is None else self._person(row)

    def add_person(self, conn: sqlite3.Connection, name: str, note: str = "") -> int:
        name = checked_name(name)
        try:
            new = self._new_id(conn, "people")
            conn.execute("INSERT INTO people(id, name, note, created) VALUES(?, ?, ?, ?)",
                         (new, name, note, now()))
            return new
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"a person named {name!r} already exists") from exc

    def _new_id(self, conn: sqlite3.Connection, table: str) -> int:
        """An id this table never gave before, for the row the caller inserts next: SQLite
        hands the highest id out again once its row is deleted, and an id in an API answer
        must never come to mean someone else (a script deleting person 170 twice would
        delete a stranger)."""
        key, top_sql = _LAST_ID[table]
        last = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        top = conn.execute(top_sql).fetchone()[0]
        new = max(int(last[0]) if last else 0, int(top)) + 1
        conn.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE "
                     "SET value=excluded.value", (key, str(new)))
        return new

    def update_person(self, person_id: int, name: str | None = None,
                      note: str | None = None) -> Person:
        with self.write() as conn:
            self.person(person_id)
            if name is not None:
                name = checked_name(name)
                try:
                    conn.execute("UPDATE people SET name=? WHERE id=?", (name, person_id))
                except sqlite3.IntegrityError as exc:
                    raise Conflict(f"a person named {name!r} already exists (merge them "
                                   f"instead?)") from exc
            if note is not None:
                conn.execute("UPDATE people SET note=? WHERE id=?", (note, person_id))
        return self.person(person_id)

    def merge_people(self, keep: int, other: int) -> Person:
        """Move `other`'s faces, enrolled and found in albums, to `keep` and delete `other`."""
        if keep == other:
            raise Conflict("cannot merge a person with themselves")
        with self.write() as conn:
            self.person(keep)
            self.person(other)
            conn.execute("UPDATE faces SET person_id=? WHERE person_id=?", (keep, other))
            conn.execute("UPDATE album_faces SET person_id=? WHERE person_id=?", (keep, other))
            conn.execute("DELETE FROM people WHERE id=?", (other,))
        return self.person(keep)

    def delete_person(self, person_id: int) -> list[int]:
        """Hard delete: the person, their faces, chips, embeddings, and photos left with no
        face. Returns the deleted face ids (for the index)."""
        with self.write() as conn:
            self.person(person_id)
            face_ids = [r[0] for r in conn.execute(
                "SELECT id FROM faces WHERE person_id=?", (person_id,))]
            photo_ids = [r[0] for r in conn.execute(
                "SELECT DISTINCT photo_id FROM faces WHERE person_id=?", (person_id,))]
            conn.execute("DELETE FROM people WHERE id=?", (person_id,))  # cascades to faces
            self._drop_orphan_photos(conn, photo_ids)
        self.compact()
        return face_ids

    # -- album photos and their sidecars ------------------------------------------------------

    def album_photo_regions(self, path: Path) -> tuple[
            int, int, list[tuple[int, str, list]]] | None:
        """A tagged photo's size and the faces facepair named in it (person id, name, box),
        or None. Faces a user's own tag names are not facepair's to write."""
        conn = self.read()
        photo = conn.execute("SELECT id, width, height FROM album_photos WHERE path=?",
                             (str(path),)).fetchone()
        if photo is None:
            return None
        rows = conn.execute(
            "SELECT p.id, p.name, f.box FROM album_faces f JOIN people p ON p.id = f.person_id "
            "WHERE f.photo_id=? AND f.named_by IS NULL ORDER BY f.id", (photo["id"],)).fetchall()
        return photo["width"], photo["height"], [(r[0], r[1], json.loads(r[2])) for r in rows]

    def album_paths_of(self, person_id: int) -> list[Path]:
        """The tagged photos in which a person was named."""
        return [Path(r[0]) for r in self.read().execute(
            "SELECT DISTINCT p.path FROM album_photos p JOIN album_faces f "
            "ON f.photo_id = p.id WHERE f.person_id=? ORDER BY p.path", (person_id,))]

    def album_photo_state(self, path: Path) -> sqlite3.Row | None:
        """What the store knows of a tagged photo's file (size, mtime, sha256, model)."""
        return self.read().execute("SELECT size, mtime, sha256, model, tags FROM album_photos "
                                   "WHERE path=?", (str(path),)).fetchone()

    def touch_album_photo(self, path: Path, mtime: float) -> None:
        """A tagged photo whose file was touched but not changed."""
        with self.write(gallery=False) as conn:
            conn.execute("UPDATE album_photos SET mtime=? WHERE path=?", (mtime, str(path)))

    def put_album_photo(self, conn: sqlite3.Connection, photo: dict[str, object],
                        faces: list[dict[str, object]]) -> int:
        """A tagged photo (replacing what was known of its path) and its faces, within the
        caller's write."""
        conn.execute("DELETE FROM album_photos WHERE path=?", (photo["path"],))
        cur = conn.execute(
            "INSERT INTO album_photos(path, size, mtime, sha256, width, height, model, job_id, "
            "tagged, tags) VALUES(:path, :size, :mtime, :sha256, :width, :height, :model, "
            ":job_id, :tagged, :tags)", {**photo, "tagged": now()})
        photo_id = int(cur.lastrowid or 0)
        conn.executemany(
            "INSERT INTO album_faces(photo_id, box, landmarks, score, person_id, similarity, "
            "chip, chip_landmarks, model, vector, named_by, candidate_id) VALUES(:photo_id, :box, "
            ":landmarks, :score, :person_id, :similarity, :chip, :chip_landmarks, :model, "
            ":vector, :named_by, :candidate_id)",
            [{**face, "photo_id": photo_id} for face in faces])
        return photo_id

    def unknown_album_faces(self, model: str) -> list[sqlite3.Row]:
        """(id, vector) of the album faces named as no one, for this model (those the user
        hid or split off a group aside: they go into no group)."""
        return self.read().execute("SELECT id, vector FROM album_faces WHERE person_id IS NULL "
                                   "AND hidden=0 AND ungrouped=0 AND model=? ORDER BY id",
                                   (model,)).fetchall()

    def set_album_clusters(self, groups: list[tuple[int, int]]) -> None:
        """The groups of unknown faces, as (group, face id); every other face in none."""
        with self.write(gallery=False) as conn:
            conn.execute("UPDATE album_faces SET cluster=NULL WHERE cluster IS NOT NULL")
            conn.executemany("UPDATE album_faces SET cluster=? WHERE id=?", groups)

    def album_clusters(self) -> list[sqlite3.Row]:
        """Each group of unknown faces: its id, faces, photos and their paths."""
        return self.read().execute(
            "SELECT f.cluster, COUNT(*) AS faces, COUNT(DISTINCT f.photo_id) AS photos, "
            "GROUP_CONCAT(p.path, '\n') AS paths FROM album_faces f JOIN album_photos p "
            "ON p.id = f.photo_id WHERE f.cluster IS NOT NULL GROUP BY f.cluster "
            "ORDER BY faces DESC, f.cluster").fetchall()

    def cluster_faces(self, cluster: int) -> list[sqlite3.Row]:
        """The faces of one group, with their photo and the job that found them."""
        return self.read().execute(
            "SELECT f.id, f.box, f.landmarks, f.score, f.chip, f.chip_landmarks, p.path, "
            "p.sha256, p.width, p.height, p.id AS photo_id, j.xmp FROM album_faces f "
            "JOIN album_photos p ON p.id = f.photo_id LEFT JOIN album_jobs j ON j.id = p.job_id "
            "WHERE f.cluster=? ORDER BY f.id", (cluster,)).fetchall()

    def user_named_album_faces(self, root: Path) -> list[sqlite3.Row]:
        """The album faces under `root` that a user's tag names, with their photo: the faces
        a tag import may enroll."""
        prefix = str(root).rstrip(os.sep) + os.sep
        return self.read().execute(
            "SELECT f.id, f.box, f.landmarks, f.score, f.chip, f.chip_landmarks, f.vector, "
            "f.model, f.person_id, p.path, p.sha256, p.width, p.height FROM album_faces f "
            "JOIN album_photos p ON p.id = f.photo_id WHERE f.named_by='user' "
            "AND substr(p.path, 1, ?) = ? ORDER BY f.person_id, p.path, f.id",
            (len(prefix), prefix)).fetchall()

    def album_chips(self, face_ids: list[int]) -> dict[int, bytes]:
        """The chips of these album faces."""
        marks = ", ".join("?" * len(face_ids))
        return {int(r[0]): bytes(r[1]) for r in self.read().execute(
            f"SELECT id, chip FROM album_faces WHERE id IN ({marks})", face_ids)}

    def name_cluster(self, cluster: int, person_id: int) -> None:
        """A group of unknown faces becomes a person's."""
        with self.write(gallery=False) as conn:
            conn.execute("UPDATE album_faces SET person_id=?, cluster=NULL, similarity=NULL "
                         "WHERE cluster=?", (person_id, cluster))

    # -- curation ------------------------------------------------------------------------------

    def enrolled_faces_of(self, person_id: int) -> list[sqlite3.Row]:
        """A person's enrolled faces, newest first: id, box, the photo's source, when."""
        return self.read().execute(
            "SELECT f.id, f.box, f.added, p.source FROM faces f JOIN photos p "
            "ON p.id = f.photo_id WHERE f.person_id=? ORDER BY f.added DESC, f.id DESC",
            (person_id,)).fetchall()

    def album_faces_named(self, person_id: int, limit: int = 500) -> list[sqlite3.Row]:
        """The album faces named as a person, newest first."""
        return self.read().execute(
            "SELECT f.id, f.box, f.similarity, f.named_by, p.id AS photo_id, p.path, p.tagged "
            "FROM album_faces f JOIN album_photos p ON p.id = f.photo_id WHERE f.person_id=? "
            "ORDER BY p.tagged DESC, f.id DESC LIMIT ?", (person_id, limit)).fetchall()

    def face_chip(self, face_id: int) -> bytes:
        row = self.read().execute("SELECT chip FROM faces WHERE id=?", (face_id,)).fetchone()
        if row is None:
            raise NotFound(f"no face with id {face_id}")
        return bytes(row[0])

    def album_face(self, face_id: int) -> sqlite3.Row:
        """One album face with its photo: for naming, excluding, thumbnails."""
        row = self.read().execute(
            "SELECT f.*, p.path, p.sha256, p.width, p.height FROM album_faces f "
            "JOIN album_photos p ON p.id = f.photo_id WHERE f.id=?", (face_id,)).fetchone()
        if row is None:
            raise NotFound(f"no album face with id {face_id}")
        return row

    def add_exclusion(self, person_id: int, model: str, vector: np.ndarray) -> None:
        with self.write() as conn:
            conn.execute("INSERT INTO exclusions(person_id, model, vector, created) "
                         "VALUES(?, ?, ?, ?)",
                         (person_id, model, np.asarray(vector, dtype="<f4").tobytes(), now()))

    def exclusions(self, model: str) -> dict[int, np.ndarray]:
        """Per person, the vectors of the faces a user said are not them (K×D)."""
        found: dict[int, list[np.ndarray]] = {}
        for person_id, vector in self.read().execute(
                "SELECT person_id, vector FROM exclusions WHERE model=?", (model,)):
            found.setdefault(int(person_id), []).append(np.frombuffer(vector, dtype="<f4"))
        return {p: np.stack(v) for p, v in found.items()}

    def name_album_face(self, face_id: int, person_id: int | None, by_user: bool) -> None:
        """An album face becomes a person's (or no one's), as the user says."""
        with self.write(gallery=False) as conn:
            conn.execute("UPDATE album_faces SET person_id=?, named_by=?, cluster=NULL, "
                         "candidate_id=NULL, similarity=CASE WHEN ? THEN NULL ELSE similarity "
                         "END WHERE id=?",
                         (person_id, "user" if by_user and person_id else None, by_user,
                          face_id))

    def hide_album_faces(self, face_ids: list[int]) -> None:
        """Faces the user does not want to see: out of every group and every suggestion."""
        with self.write(gallery=False) as conn:
            conn.executemany("UPDATE album_faces SET hidden=1, cluster=NULL WHERE id=?",
                             [(i,) for i in face_ids])

    def ungroup_album_face(self, face_id: int) -> None:
        """A face split off its group: in no group again."""
        with self.write(gallery=False) as conn:
            conn.execute("UPDATE album_faces SET ungrouped=1, cluster=NULL WHERE id=?",
                         (face_id,))

    def cluster_face_ids(self, cluster: int) -> list[int]:
        return [int(r[0]) for r in self.read().execute(
            "SELECT id FROM album_faces WHERE cluster=? ORDER BY id", (cluster,))]

    def suggestions(self, low: float, high: float, limit: int) -> tuple[int, list[sqlite3.Row]]:
        """Unknown album faces that came within [low, high) of someone, closest first: how
        many wait, and the first `limit`."""
        where = ("FROM album_faces f JOIN album_photos p ON p.id = f.photo_id "
                 "JOIN people pe ON pe.id = f.candidate_id WHERE f.person_id IS NULL "
                 "AND f.hidden=0 AND f.skipped=0 AND f.similarity >= ? AND f.similarity < ?")
        conn = self.read()
        count = conn.execute("SELECT COUNT(*) " + where, (low, high)).fetchone()[0]
        rows = conn.execute(
            "SELECT f.id, f.similarity, f.candidate_id, f.vector, pe.name, p.path, "
            "p.id AS photo_id "
            + where + " ORDER BY f.similarity DESC, f.id LIMIT ?", (low, high, limit)).fetchall()
        return int(count), rows

    def skip_album_face(self, face_id: int) -> None:
        with self.write(gallery=False) as conn:
            conn.execute("UPDATE album_faces SET skipped=1 WHERE id=?", (face_id,))

    def reject_candidate(self, face_id: int) -> None:
        with self.write(gallery=False) as conn:
            conn.execute("UPDATE album_faces SET candidate_id=NULL WHERE id=?", (face_id,))

    def album_photo(self, photo_id: int) -> sqlite3.Row:
        row = self.read().execute("SELECT * FROM album_photos WHERE id=?",
                                  (photo_id,)).fetchone()
        if row is None:
            raise NotFound(f"no album photo with id {photo_id}")
        return row

    def album_photos_under(self, root: Path, limit: int, offset: int
                           ) -> tuple[int, list[sqlite3.Row], list[sqlite3.Row]]:
        """The tagged photos under `root` (how many, a page of them by path) and their
        faces with names."""
        prefix = str(root).rstrip(os.sep) + os.sep
        conn = self.read()
        count = conn.execute("SELECT COUNT(*) FROM album_photos WHERE substr(path, 1, ?) = ?",
                             (len(prefix), prefix)).fetchone()[0]
        photos = conn.execute(
            "SELECT id, path, width, height FROM album_photos WHERE substr(path, 1, ?) = ? "
            "ORDER BY path LIMIT ? OFFSET ?", (len(prefix), prefix, limit, offset)).fetchall()
        ids = [r["id"] for r in photos]
        marks = ", ".join("?" * len(ids))
        faces = conn.execute(
            "SELECT f.id, f.photo_id, f.box, f.person_id, pe.name, f.named_by FROM album_faces f "
            f"LEFT JOIN people pe ON pe.id = f.person_id WHERE f.photo_id IN ({marks}) "
            "ORDER BY f.id", ids).fetchall() if ids else []
        return int(count), photos, faces

    def report_faces(self) -> list[sqlite3.Row]:
        """Every album face for the report: chip, similarity, group, path, name."""
        return self.read().execute(
            "SELECT f.chip, f.similarity, f.cluster, p.path, pe.name FROM album_faces f "
            "JOIN album_photos p ON p.id = f.photo_id LEFT JOIN people pe ON pe.id = f.person_id "
            "ORDER BY pe.name COLLATE NOCASE, f.cluster, p.path").fetchall()

    def add_album_job(self, root: Path, xmp: bool, owner: int | None, resumable: bool,
                      embed: bool = False, kind: str = "tag") -> int:
        with self.write(gallery=False) as conn:
            cur = conn.execute(
                "INSERT INTO album_jobs(root, status, xmp, created, updated, owner, resumable, "
                "embed, kind) VALUES(?, 'queued', ?, ?, ?, ?, ?, ?, ?)",
                (str(root), int(xmp), now(), now(), owner, int(resumable), int(embed), kind))
        return int(cur.lastrowid or 0)

    def album_photo_rewritten(self, path: Path, size: int, mtime: float, sha256: str) -> None:
        """facepair wrote into a tagged photo's own XMP: its file is as tagged, not changed."""
        with self.write(gallery=False) as conn:
            conn.execute("UPDATE album_photos SET size=?, mtime=?, sha256=? WHERE path=?",
                         (size, mtime, sha256, str(path)))

    def start_album_job(self, job_id: int, total: int, unchanged: int, skipped: int,
                        failed: int) -> None:
        """A job has found its photos: `total` to read (`failed` of them unreadable)."""
        with self.write(gallery=False) as conn:
            conn.execute("UPDATE album_jobs SET status='running', total=?, unchanged=?, "
                         "skipped=?, failed=?, done=?, updated=? WHERE id=?",
                         (total, unchanged, skipped, failed, failed, now(), job_id))

    def album_job_progress(self, conn: sqlite3.Connection, job_id: int, done: int, faces: int,
                           named: int, unknown: int, failed: int) -> None:
        """A job's counts so far, within the write that records its latest photos."""
        conn.execute("UPDATE album_jobs SET done=?, faces=?, named=?, unknown=?, failed=?, "
                     "updated=? WHERE id=?", (done, faces, named, unknown, failed, now(), job_id))

    def end_album_job(self, job_id: int, status: str, error: str | None = None) -> None:
        """A job has stopped: done, cancelled, failed (with `error`)."""
        with self.write(gallery=False) as conn:
            self._album_job_status(conn, job_id, status, error)

    def release_album_job(self, job_id: int) -> None:
        """A job this process stops without finishing goes back to the queue, for the next
        service process to take up."""
        with self.write(gallery=False) as conn:
            conn.execute("UPDATE album_jobs SET status='queued', owner=NULL, updated=? "
                         "WHERE id=?", (now(), job_id))

    @staticmethod
    def _album_job_status(conn: sqlite3.Connection, job_id: int, status: str,
                          error: str | None = None) -> None:
        conn.execute("UPDATE album_jobs SET status=?, error=COALESCE(?, error), updated=? "
                     "WHERE id=?", (status, error, now(), job_id))

    def album_job(self, job_id: int) -> dict | None:
        row = self.read().execute("SELECT * FROM album_jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else dict(row)

    def claim_album_job(self, owner: int, alive: Callable[[int], bool]) -> dict | None:
        """Take the oldest service job that waits for a process, or whose process is gone
        (`alive(pid)` says it is not): it becomes `owner`'s. Jobs of a gone process that
        cannot be taken up (a CLI's) are marked interrupted on the way."""
        with self.write(gallery=False) as conn:
            rows = conn.execute(
                "SELECT * FROM album_jobs WHERE status IN ('queued', 'running') "
                "AND (owner IS NULL OR owner != ?) ORDER BY id", (owner,)).fetchall()
            for row in rows:
                if row["owner"] is not None and alive(row["owner"]):
                    continue
                if not row["resumable"]:
                    self._album_job_status(conn, row["id"], "interrupted",
                                           "the process running it stopped")
                    continue
                conn.execute("UPDATE album_jobs SET owner=?, updated=? WHERE id=?",
                             (owner, now(), row["id"]))
                return {**dict(row), "owner": owner}
        return None

    def interrupt_orphan_album_jobs(self, alive: Callable[[int], bool]) -> int:
        """Mark interrupted the command-line jobs whose process is gone (killed mid-job)."""
        with self.write(gallery=False) as conn:
            rows = conn.execute("SELECT id, owner FROM album_jobs WHERE status IN ('queued', "
                                "'running') AND resumable=0 AND owner IS NOT NULL").fetchall()
            gone = [r["id"] for r in rows if not alive(r["owner"])]
            for job_id in gone:
                self._album_job_status(conn, job_id, "interrupted",
                                       "the process running it stopped")
        return len(gone)

    def cancel_album_job(self, job_id: int) -> bool:
        """Ask a queued or running job to stop (whichever process runs it); one that no
        process has taken yet stops at once. Whether it was queued or running."""
        with self.write(gallery=False) as conn:
            row = conn.execute("SELECT status, owner FROM album_jobs WHERE id=?",
                               (job_id,)).fetchone()
            if row is None or row["status"] not in ("queued", "running"):
                return False
            conn.execute("UPDATE album_jobs SET cancel=1, updated=? WHERE id=?", (now(), job_id))
            if row["owner"] is None:
                self._album_job_status(conn, job_id, "cancelled")
        return True

    def album_job_cancelled(self, job_id: int) -> bool:
        row = self.read().execute("SELECT cancel FROM album_jobs WHERE id=?",
                                  (job_id,)).fetchone()
        return bool(row is None or row[0])

    def add_album_problems(self, job_id: int, problems: list[tuple[str, str, str]]) -> None:
        """Record (path, problem, detail) rows for a job."""
        if problems:
            with self.write(gallery=False) as conn:
                conn.executemany("INSERT INTO album_problems(job_id, path, problem, detail) "
                                 "VALUES(?, ?, ?, ?)", [(job_id, *p) for p in problems])

    def album_problems(self, job_id: int, limit: int = 100) -> tuple[int, list[dict]]:
        """How many problems a job recorded, and the first `limit` of them."""
        conn = self.read()
        count = conn.execute("SELECT COUNT(*) FROM album_problems WHERE job_id=?",
                             (job_id,)).fetchone()[0]
        rows = conn.execute("SELECT path, problem, detail FROM album_problems WHERE job_id=? "
                            "ORDER BY id LIMIT ?", (job_id, limit)).fetchall()
        return int(count), [dict(r) for r in rows]

    # -- photos and faces ---------------------------------------------------------------------

    def photo_id(self, sha256: str) -> int | None:
        row = self.read().execute("SELECT id FROM photos WHERE sha256=?", (sha256,)).fetchone()
        return None if row is None else int(row[0])

    def add_photo(self, conn: sqlite3.Connection, sha256: str, source: str, width: int,
                  height: int) -> int:
        row = conn.execute("SELECT id FROM photos WHERE sha256=?", (sha256,)).fetchone()
        if row is not None:
            return int(row[0])
        new = self._new_id(conn, "photos")
        conn.execute("INSERT INTO photos(id, sha256, source, width, height, added) "
                     "VALUES(?, ?, ?, ?, ?, ?)", (new, sha256, source, width, height, now()))
        return new

    def faces_in_photo(self, photo_id: int) -> list[StoredFace]:
        return self._faces("WHERE f.photo_id=?", (photo_id,))

    def faces_of(self, person_id: int) -> list[StoredFace]:
        return self._faces("WHERE f.person_id=?", (person_id,))

    def face(self, face_id: int) -> StoredFace:
        found = self._faces("WHERE f.id=?", (face_id,))
        if not found:
            raise NotFound(f"no face with id {face_id}")
        return found[0]

    def _faces(self, where: str, args: tuple) -> list[StoredFace]:
        rows = self.read().execute(
            "SELECT f.id, f.photo_id, f.person_id, f.box, f.landmarks, f.score, f.sharpness, "
            f"p.source FROM faces f JOIN photos p ON p.id = f.photo_id {where} ORDER BY f.id",
            args).fetchall()
        return [StoredFace(r["id"], r["photo_id"], r["person_id"], json.loads(r["box"]),
                           json.loads(r["landmarks"]), r["score"], r["sharpness"], r["source"])
                for r in rows]

    def add_face(self, conn: sqlite3.Connection, photo_id: int, person_id: int,
                 box: list[float], landmarks: list[list[float]], score: float, sharpness: float,
                 chip: bytes, chip_landmarks: list[list[float]]) -> int:
        new = self._new_id(conn, "faces")
        conn.execute(
            "INSERT INTO faces(id, photo_id, person_id, box, landmarks, score, sharpness, chip, "
            "chip_landmarks, added) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (new, photo_id, person_id, json.dumps(box), json.dumps(landmarks), score, sharpness,
             chip, json.dumps(chip_landmarks), now()))
        return new

    def delete_face(self, face_id: int) -> None:
        with self.write() as conn:
            row = conn.execute("SELECT photo_id FROM faces WHERE id=?", (face_id,)).fetchone()
            if row is None:
                raise NotFound(f"no face with id {face_id}")
            conn.execute("DELETE FROM faces WHERE id=?", (face_id,))
            self._drop_orphan_photos(conn, [row[0]])
        self.compact()

    def delete_faces_in_photo(self, person_id: int, photo_id: int) -> list[int]:
        """Remove a person's faces in one photo; returns their ids."""
        with self.write() as conn:
            self.person(person_id)
            face_ids = [r[0] for r in conn.execute(
                "SELECT id FROM faces WHERE person_id=? AND photo_id=?", (person_id, photo_id))]
            if not face_ids:
                raise NotFound(f"person {person_id} has no face in photo {photo_id}")
            conn.execute("DELETE FROM faces WHERE person_id=? AND photo_id=?",
                         (person_id, photo_id))
            self._drop_orphan_photos(conn, [photo_id])
        self.compact()
        return face_ids

    def _drop_orphan_photos(self, conn: sqlite3.Connection, photo_ids: list[int]) -> None:
        for pid in photo_ids:
            conn.execute("DELETE FROM photos WHERE id=? AND NOT EXISTS "
                         "(SELECT 1 FROM faces WHERE photo_id=?)", (pid, pid))

    def chips(self, face_ids: list[int] | None = None) -> Iterator[tuple[int, bytes, list]]:
        """(face id, chip JPEG, chip landmarks) for these faces, or for all."""
        sql = "SELECT id, chip, chip_landmarks FROM faces"
        if face_ids is None:
            rows = self.read().execute(sql + " ORDER BY id")
        else:
            marks = ",".join("?" * len(face_ids))
            rows = self.read().execute(sql + f" WHERE id IN ({marks}) ORDER BY id", face_ids)
        for r in rows:
            yield int(r[0]), bytes(r[1]), json.loads(r[2])

    # -- embeddings ---------------------------------------------------------------------------

    def put_embeddings(self, conn: sqlite3.Connection, model: str, face_ids: list[int],
                       vectors: np.ndarray) -> None:
        conn.executemany(
            "INSERT INTO embeddings(face_id, model, vector) VALUES(?, ?, ?) "
            "ON CONFLICT(face_id, model) DO UPDATE SET vector=excluded.vector",
            [(fid, model, np.asarray(v, dtype="<f4").tobytes())
             for fid, v in zip(face_ids, vectors, strict=True)])

    def embeddings(self, model: str, person_id: int | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(face ids, person ids, N×D float32 vectors) of every face embedded by `model` (of
        one person, when given)."""
        sql = ("SELECT f.id, f.person_id, e.vector FROM embeddings e JOIN faces f "
               "ON f.id = e.face_id WHERE e.model=?")
        args: tuple = (model,)
        if person_id is not None:
            sql, args = sql + " AND f.person_id=?", (model, person_id)
        rows = self.read().execute(sql + " ORDER BY f.id", args).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        people = np.array([r[1] for r in rows], dtype=np.int64)
        if not rows:
            return ids, people, np.empty((0, 0), dtype=np.float32)
        vectors = np.stack([np.frombuffer(r[2], dtype="<f4") for r in rows]).astype(np.float32)
        return ids, people, vectors

    def faces_without(self, model: str) -> list[int]:
        rows = self.read().execute(
            "SELECT id FROM faces WHERE id NOT IN (SELECT face_id FROM embeddings WHERE model=?) "
            "ORDER BY id", (model,))
        return [int(r[0]) for r in rows]

    def drop_other_models(self, model: str) -> int:
        """Delete embeddings made by other models (after a re-embed)."""
        with self.write() as conn:
            n = conn.execute("DELETE FROM embeddings WHERE model<>?", (model,)).rowcount
        return n

    # -- nearest faces (index.calibration) ----------------------------------------------------

    def nearest(self, model: str) -> dict[int, tuple[float, int, float | None, int | None]]:
        """face id → (impostor score, its face, genuine score, its face) under `model`."""
        rows = self.read().execute(
            "SELECT face_id, impostor, impostor_face, genuine, genuine_face FROM nearest "
            "WHERE model=?", (model,)).fetchall()
        return {int(r[0]): (float(r[1]), int(r[2]), r[3], r[4]) for r in rows}

    def without_nearest(self, model: str) -> int:
        """How many faces have no nearest-faces row under `model`."""
        return int(self.read().execute(
            "SELECT COUNT(*) FROM faces WHERE id NOT IN "
            "(SELECT face_id FROM nearest WHERE model=?)", (model,)).fetchone()[0])

    def put_nearest(self, model: str,
                    rows: list[tuple[int, float, int, float | None, int | None]],
                    raised: list[tuple[int, str, float, int]]) -> None:
        """Write recomputed rows (face id, impostor, its face, genuine, its face), and raise
        other faces' scores (face id, 'impostor' or 'genuine', score, face) where the new
        one is higher. Both keep the maximum of what is stored and what is written, so
        that one process never lowers what another has just raised; a row or a raise that
        names a face deleted meanwhile is not written (it is computed again when next
        asked)."""
        higher = ("CASE WHEN excluded.{k} > nearest.{k} OR nearest.{k} IS NULL "
                  "THEN excluded.{c} ELSE nearest.{c} END")
        sets = ", ".join(f"{c}={higher.format(k=k, c=c)}" for k, c in (
            ("impostor", "impostor_face"), ("impostor", "impostor"),
            ("genuine", "genuine_face"), ("genuine", "genuine")))
        with self.write(gallery=False) as conn:
            conn.executemany(
                "INSERT INTO nearest(face_id, model, impostor, impostor_face, genuine, "
                "genuine_face) SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS "
                "(SELECT 1 FROM faces WHERE id=?) AND EXISTS (SELECT 1 FROM faces WHERE id=?) "
                "AND (? IS NULL OR EXISTS (SELECT 1 FROM faces WHERE id=?)) "
                f"ON CONFLICT(face_id, model) DO UPDATE SET {sets}",
                [(f, model, i, fi, g, gi, f, fi, gi, gi) for f, i, fi, g, gi in rows])
            for kind in ("impostor", "genuine"):
                conn.executemany(
                    f"UPDATE nearest SET {kind}=?, {kind}_face=? WHERE face_id=? AND model=? "
                    f"AND ({kind} IS NULL OR {kind} < ?) "
                    "AND EXISTS (SELECT 1 FROM faces WHERE id=?)",
                    [(score, face, f, model, score, face) for f, k, score, face in raised
                     if k == kind])

    def face_shas(self) -> dict[int, str]:
        """The content hash of each enrolled face's photo."""
        return {int(r[0]): r[1] for r in self.read().execute(
            "SELECT f.id, p.sha256 FROM faces f JOIN photos p ON p.id = f.photo_id")}

    def counts(self) -> dict[str, int]:
        conn = self.read()
        return {t: int(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0])
                for t in ("people", "photos", "faces", "embeddings")}

    # -- API keys -----------------------------------------------------------------------------

    def add_key(self, name: str, scope: str, digest: str) -> int:
        with self.write() as conn:
            cur = conn.execute("INSERT INTO api_keys(name, scope, hash, created) "
                               "VALUES(?, ?, ?, ?)", (name, scope, digest, now()))
        return int(cur.lastrowid or 0)

    def key_scope(self, digest: str) -> tuple[int, str] | None:
        row = self.read().execute("SELECT id, scope FROM api_keys WHERE hash=?",
                                  (digest,)).fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def keys(self) -> list[dict]:
        rows = self.read().execute(
            "SELECT id, name, scope, created, last_used FROM api_keys ORDER BY id").fetchall()
        return [dict(r) for r in rows]

    def revoke_key(self, key_id: int) -> None:
        with self.write() as conn:
            if conn.execute("DELETE FROM api_keys WHERE id=?", (key_id,)).rowcount == 0:
                raise NotFound(f"no API key with id {key_id}")
