"""The store's tables, written once in SQLAlchemy Core for every backend.

Two column types carry what the store's callers never decode themselves: `JsonList` (boxes
and landmarks, JSON text in the row) and `Vector` (an embedding as little-endian float32
bytes, a NumPy array in Python). Flags are `Boolean` (0/1 in SQLite). Times are ISO-8601 text
in UTC. The ids of people, photos and faces come from the database and are never given twice
(SQLite's AUTOINCREMENT, PostgreSQL's sequences): an id in an API answer never comes to mean
someone else.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class JsonList(TypeDecorator[Any]):
    """A list of numbers (a box, landmarks) stored as JSON text."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, np.ndarray):
            value = value.tolist()
        return json.dumps(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(value)


class Vector(TypeDecorator[np.ndarray]):
    """An embedding: float32 little-endian bytes in the row, a 1-D float32 array in Python."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: np.ndarray | None, dialect: Dialect) -> bytes | None:
        return None if value is None else np.asarray(value, dtype="<f4").tobytes()

    def process_result_value(self, value: bytes | None, dialect: Dialect) -> np.ndarray | None:
        return None if value is None else np.frombuffer(value, dtype="<f4").astype(np.float32)


metadata = MetaData()

meta = Table(
    "meta", metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

people = Table(
    "people", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("note", Text, nullable=False, server_default=""),
    Column("created", Text, nullable=False),
    sqlite_autoincrement=True,
)

photos = Table(
    "photos", metadata,
    Column("id", Integer, primary_key=True),
    Column("sha256", Text, nullable=False, unique=True),
    Column("source", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("added", Text, nullable=False),
    sqlite_autoincrement=True,
)

faces = Table(
    "faces", metadata,
    Column("id", Integer, primary_key=True),
    Column("photo_id", Integer, ForeignKey("photos.id", ondelete="CASCADE"), nullable=False),
    Column("person_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
    Column("box", JsonList, nullable=False),
    Column("landmarks", JsonList, nullable=False),
    Column("score", Float, nullable=False),
    Column("sharpness", Float, nullable=False),
    Column("chip", LargeBinary, nullable=False),
    Column("chip_landmarks", JsonList, nullable=False),
    Column("added", Text, nullable=False),
    Index("faces_person", "person_id"),
    Index("faces_photo", "photo_id"),
    sqlite_autoincrement=True,
)

embeddings = Table(
    "embeddings", metadata,
    Column("face_id", Integer, ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True),
    Column("model", Text, primary_key=True),
    Column("vector", Vector, nullable=False),
)

# each enrolled face's nearest face of another person (impostor) and of its own (genuine),
# per model: the gallery's own estimate of how often a stranger is named (index.calibration)
nearest = Table(
    "nearest", metadata,
    Column("face_id", Integer, ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True),
    Column("model", Text, primary_key=True),
    Column("impostor", Float, nullable=False),
    Column("impostor_face", Integer, nullable=False),
    Column("genuine", Float),
    Column("genuine_face", Integer),
    Index("nearest_impostor", "impostor_face"),
    Index("nearest_genuine", "genuine_face"),
)

# a face a user said is not someone: its vector, so that it is never named as them again
exclusions = Table(
    "exclusions", metadata,
    Column("id", Integer, primary_key=True),
    Column("person_id", Integer, ForeignKey("people.id", ondelete="CASCADE"), nullable=False),
    Column("model", Text, nullable=False),
    Column("vector", Vector, nullable=False),
    Column("created", Text, nullable=False),
    Index("exclusions_person", "person_id"),
)

# two people a user said are different people: a pair of look-alikes no longer offered as one
# person enrolled twice (`a` < `b`); gone with either of them
different_people = Table(
    "different_people", metadata,
    Column("a", Integer, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    Column("b", Integer, ForeignKey("people.id", ondelete="CASCADE"), primary_key=True),
    Column("created", Text, nullable=False),
    Index("different_people_b", "b"),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("scope", Text, nullable=False),
    Column("hash", Text, nullable=False, unique=True),
    Column("created", Text, nullable=False),
    Column("last_used", Text),
    # the collection the key works in; NULL: every collection (admin keys of the server)
    Column("collection", Text),
)

# the collections of a server beside the default one (kept in the default one's store)
collections = Table(
    "collections", metadata,
    Column("name", Text, primary_key=True),
    Column("created", Text, nullable=False),
)

# a photo library by name: album photos are kept as a root and a path inside it, so that hosts
# that mount one library at different places agree on which photo is which (where a root lives
# on a host is that host's setting, `index.roots`); `hint` is where it was first found
roots = Table(
    "roots", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("created", Text, nullable=False),
    Column("hint", Text),
)

album_jobs = Table(
    "album_jobs", metadata,
    Column("id", Integer, primary_key=True),
    # the root tagged, and the folder inside it (POSIX, "" for the whole root)
    Column("root_id", Integer, ForeignKey("roots.id"), nullable=False),
    Column("folder", Text, nullable=False, server_default=""),
    Column("status", Text, nullable=False),
    Column("xmp", Boolean, nullable=False, server_default="0"),
    Column("created", Text, nullable=False),
    Column("updated", Text, nullable=False),
    Column("total", Integer, nullable=False, server_default="0"),
    Column("done", Integer, nullable=False, server_default="0"),
    Column("unchanged", Integer, nullable=False, server_default="0"),
    Column("faces", Integer, nullable=False, server_default="0"),
    Column("named", Integer, nullable=False, server_default="0"),
    Column("unknown", Integer, nullable=False, server_default="0"),
    Column("skipped", Integer, nullable=False, server_default="0"),
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    # who runs the job (an opaque name: host, process and a random part; NULL while it waits
    # for one), and until when (seconds since the epoch) it holds the job unless it renews
    Column("owner", Text),
    Column("lease_until", Float),
    Column("resumable", Boolean, nullable=False, server_default="0"),
    Column("cancel", Boolean, nullable=False, server_default="0"),
    Column("embed", Boolean, nullable=False, server_default="0"),
    Column("kind", Text, nullable=False, server_default="tag"),
    Column("ray", Boolean, nullable=False, server_default="0"),  # on the Ray cluster
)

# what an album job could not do, photo by photo
album_problems = Table(
    "album_problems", metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, ForeignKey("album_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),
    Column("problem", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Index("album_problems_job", "job_id"),
)

album_photos = Table(
    "album_photos", metadata,
    Column("id", Integer, primary_key=True),
    # a photo's root and its path inside it (POSIX separators)
    Column("root_id", Integer, ForeignKey("roots.id"), nullable=False),
    Column("path", Text, nullable=False),
    Column("size", Integer, nullable=False),
    Column("mtime", Float, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("model", Text, nullable=False),
    Column("job_id", Integer),
    Column("tagged", Text, nullable=False),
    # the photo's tag files as last read (their sizes and times: faces.tags.fingerprint)
    Column("tags", Text, nullable=False, server_default=""),
    Column("duration", Float),  # a video's length in seconds; NULL: a photo
    UniqueConstraint("root_id", "path", name="album_photos_place"),
)

# the score of an album face a user drew by hand where the detector found none (a detector's
# score is in [0, 1]): such a face is kept when its photo is tagged again
DRAWN_SCORE = -1.0

album_faces = Table(
    "album_faces", metadata,
    Column("id", Integer, primary_key=True),
    Column("photo_id", Integer, ForeignKey("album_photos.id", ondelete="CASCADE"),
           nullable=False),
    Column("box", JsonList, nullable=False),
    Column("landmarks", JsonList, nullable=False),
    Column("score", Float, nullable=False),  # the detector's; DRAWN_SCORE: drawn by hand
    Column("person_id", Integer, ForeignKey("people.id", ondelete="CASCADE")),
    Column("similarity", Float),
    Column("cluster", Integer),
    Column("chip", LargeBinary, nullable=False),
    Column("chip_landmarks", JsonList, nullable=False),
    Column("model", Text, nullable=False),
    Column("vector", Vector, nullable=False),
    # who named it: NULL, facepair's gallery; 'context', the album's context; 'user', the
    # user's own tag in the photo (another tool's region); 'answer', the user in facepair (a
    # suggestion confirmed, "this is …", a face drawn and named), which facepair writes
    Column("named_by", Text),
    # the person it came closest to when named as no one (a suggestion)
    Column("candidate_id", Integer, ForeignKey("people.id", ondelete="SET NULL")),
    Column("hidden", Boolean, nullable=False, server_default="0"),
    Column("ungrouped", Boolean, nullable=False, server_default="0"),
    Column("skipped", Boolean, nullable=False, server_default="0"),
    Column("quality", Float),  # faces.quality; NULL: recorded before it was measured
    # a video's face (one track): the time in seconds of the frame it is from; NULL: a photo's
    Column("at", Float),
    Index("album_faces_photo", "photo_id"),
    Index("album_faces_person_photo", "person_id", "photo_id"),
    Index("album_faces_cluster", "cluster"),
)

# when a video's face (a track: an album face of a video) is seen: its spans, in seconds
album_face_times = Table(
    "album_face_times", metadata,
    Column("id", Integer, primary_key=True),
    Column("face_id", Integer, ForeignKey("album_faces.id", ondelete="CASCADE"),
           nullable=False),
    Column("start", Float, nullable=False),
    Column("stop", Float, nullable=False),
    Index("album_face_times_face", "face_id"),
)

# work that one process of all does at a time (the gallery's calibration estimate): held by
# `owner` (host, process, a random part) until `until` (seconds since the epoch)
leases = Table(
    "leases", metadata,
    Column("name", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("until", Float, nullable=False),
)

# the change feed: one row for each write that changes what identify can answer, in the order
# the writes committed (ids are given in commit order), so that every process brings its
# search index up to date by applying what came after the last change it saw
changes = Table(
    "changes", metadata,
    Column("id", Integer, primary_key=True),
    # 'face': a face's vector or owner changed, or it is gone (model: one model's vector only)
    # 'person': a person added, renamed, merged away or deleted
    # 'exclusion': a face said not to be a person; 'threshold': the threshold set by hand
    # 'reset': read everything again (another model's vectors replaced the gallery's)
    Column("kind", Text, nullable=False),
    Column("face_id", Integer),
    Column("person_id", Integer),
    Column("model", Text),
    sqlite_autoincrement=True,
)
