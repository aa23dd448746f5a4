"""The gallery as its first schema numbering left it (`index.store.legacy`, step 7): people,
photos, faces, embeddings, nearest faces, exclusions, API keys, album jobs, photos, faces and
problems. A gallery of that numbering is stamped with this revision, not run through it.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer, primary_key=True)


text, integer, real, blob = sa.Text, sa.Integer, sa.Float, sa.LargeBinary
# 0/1 in SQLite (as the first numbering wrote them), boolean in PostgreSQL
flag = sa.Boolean(create_constraint=False)


def upgrade() -> None:
    _gallery()
    _albums()
    _curation()


def _gallery() -> None:
    """People, photos, faces and embeddings; API keys."""
    op.create_table("meta", sa.Column("key", text, primary_key=True),
                    sa.Column("value", text, nullable=False))
    op.create_table("people", _id(), sa.Column("name", text, nullable=False, unique=True),
                    sa.Column("note", text, nullable=False, server_default=""),
                    sa.Column("created", text, nullable=False))
    op.create_table("photos", _id(), sa.Column("sha256", text, nullable=False, unique=True),
                    sa.Column("source", text, nullable=False),
                    sa.Column("width", integer, nullable=False),
                    sa.Column("height", integer, nullable=False),
                    sa.Column("added", text, nullable=False))
    op.create_table(
        "faces", _id(),
        sa.Column("photo_id", integer, sa.ForeignKey("photos.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("person_id", integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("box", text, nullable=False), sa.Column("landmarks", text, nullable=False),
        sa.Column("score", real, nullable=False), sa.Column("sharpness", real, nullable=False),
        sa.Column("chip", blob, nullable=False),
        sa.Column("chip_landmarks", text, nullable=False),
        sa.Column("added", text, nullable=False))
    op.create_index("faces_person", "faces", ["person_id"])
    op.create_index("faces_photo", "faces", ["photo_id"])
    op.create_table(
        "embeddings",
        sa.Column("face_id", integer, sa.ForeignKey("faces.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("model", text, primary_key=True), sa.Column("vector", blob, nullable=False))
    op.create_table(
        "api_keys", _id(), sa.Column("name", text, nullable=False, server_default=""),
        sa.Column("scope", text, nullable=False),
        sa.Column("hash", text, nullable=False, unique=True),
        sa.Column("created", text, nullable=False), sa.Column("last_used", text))


def _albums() -> None:
    """Album jobs, their problems, the photos tagged and the faces found in them."""
    counts = ("total", "done", "unchanged", "faces", "named", "unknown", "skipped", "failed")
    op.create_table(
        "album_jobs", _id(), sa.Column("root", text, nullable=False),
        sa.Column("status", text, nullable=False),
        sa.Column("xmp", flag, nullable=False, server_default="0"),
        sa.Column("created", text, nullable=False), sa.Column("updated", text, nullable=False),
        *[sa.Column(c, integer, nullable=False, server_default="0") for c in counts],
        sa.Column("error", text), sa.Column("owner", integer),
        sa.Column("resumable", flag, nullable=False, server_default="0"),
        sa.Column("cancel", flag, nullable=False, server_default="0"),
        sa.Column("embed", flag, nullable=False, server_default="0"),
        sa.Column("kind", text, nullable=False, server_default="tag"))
    op.create_table(
        "album_photos", _id(), sa.Column("path", text, nullable=False, unique=True),
        sa.Column("size", integer, nullable=False), sa.Column("mtime", real, nullable=False),
        sa.Column("sha256", text, nullable=False), sa.Column("width", integer, nullable=False),
        sa.Column("height", integer, nullable=False), sa.Column("model", text, nullable=False),
        sa.Column("job_id", integer), sa.Column("tagged", text, nullable=False),
        sa.Column("tags", text, nullable=False, server_default=""))
    op.create_table(
        "album_faces", _id(),
        sa.Column("photo_id", integer, sa.ForeignKey("album_photos.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("box", text, nullable=False), sa.Column("landmarks", text, nullable=False),
        sa.Column("score", real, nullable=False),
        sa.Column("person_id", integer, sa.ForeignKey("people.id", ondelete="CASCADE")),
        sa.Column("similarity", real), sa.Column("cluster", integer),
        sa.Column("chip", blob, nullable=False),
        sa.Column("chip_landmarks", text, nullable=False),
        sa.Column("model", text, nullable=False), sa.Column("vector", blob, nullable=False),
        sa.Column("named_by", text),
        sa.Column("candidate_id", integer, sa.ForeignKey("people.id", ondelete="SET NULL")),
        sa.Column("hidden", flag, nullable=False, server_default="0"),
        sa.Column("ungrouped", flag, nullable=False, server_default="0"),
        sa.Column("skipped", flag, nullable=False, server_default="0"))
    op.create_index("album_faces_photo", "album_faces", ["photo_id"])
    op.create_index("album_faces_person", "album_faces", ["person_id"])
    op.create_index("album_faces_cluster", "album_faces", ["cluster"])
    op.create_table(
        "album_problems", _id(),
        sa.Column("job_id", integer, sa.ForeignKey("album_jobs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("path", text, nullable=False), sa.Column("problem", text, nullable=False),
        sa.Column("detail", text, nullable=False))
    op.create_index("album_problems_job", "album_problems", ["job_id"])


def _curation() -> None:
    """Each face's nearest faces (calibration) and the faces a user said are not someone."""
    op.create_table(
        "nearest",
        sa.Column("face_id", integer, sa.ForeignKey("faces.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("model", text, primary_key=True), sa.Column("impostor", real, nullable=False),
        sa.Column("impostor_face", integer, nullable=False), sa.Column("genuine", real),
        sa.Column("genuine_face", integer))
    op.create_index("nearest_impostor", "nearest", ["impostor_face"])
    op.create_index("nearest_genuine", "nearest", ["genuine_face"])
    op.create_table(
        "exclusions", _id(),
        sa.Column("person_id", integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("model", text, nullable=False), sa.Column("vector", blob, nullable=False),
        sa.Column("created", text, nullable=False))
    op.create_index("exclusions_person", "exclusions", ["person_id"])


def downgrade() -> None:
    for table in ("exclusions", "album_problems", "nearest", "album_faces", "album_photos",
                  "album_jobs", "api_keys", "embeddings", "faces", "photos", "people", "meta"):
        op.drop_table(table)
