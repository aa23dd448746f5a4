"""The quality of each album face (`faces.quality`): faces under the floor are grouped and
suggested to no one. Faces recorded before have none (NULL) and are treated as before.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("album_faces") as faces:
        faces.add_column(sa.Column("quality", sa.Float, nullable=True))


def downgrade() -> None:
    raise NotImplementedError("a gallery is not taken back to an earlier schema")
