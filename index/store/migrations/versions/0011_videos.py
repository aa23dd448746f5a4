"""Videos among album photos: a video's length (`album_photos.duration`, NULL for a photo),
the time of the frame each of its faces (tracks) is from (`album_faces.at`), and the spans
each track is seen over (`album_face_times`).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("album_photos") as photos:
        photos.add_column(sa.Column("duration", sa.Float, nullable=True))
    with op.batch_alter_table("album_faces") as faces:
        faces.add_column(sa.Column("at", sa.Float, nullable=True))
    op.create_table(
        "album_face_times",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("face_id", sa.Integer,
                  sa.ForeignKey("album_faces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("stop", sa.Float, nullable=False),
    )
    op.create_index("album_face_times_face", "album_face_times", ["face_id"])


def downgrade() -> None:
    raise NotImplementedError("a gallery is not taken back to an earlier schema")
