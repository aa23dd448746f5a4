"""The photos of a person, and of people together, from an index alone: each album face's
person and photo side by side (`AlbumsRepository.photos_with` never reads the faces' rows,
whose chips and vectors make them large). It takes the place of the index on the person.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("album_faces_person_photo", "album_faces", ["person_id", "photo_id"])
    op.drop_index("album_faces_person", table_name="album_faces")


def downgrade() -> None:
    raise NotImplementedError("a gallery is not taken back to an earlier schema")
