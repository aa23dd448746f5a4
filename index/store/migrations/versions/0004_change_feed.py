"""The change feed: an ordered row for each write that changes what identify answers, which
every process applies to its search index as a delta; leases on work one process does for all.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("face_id", sa.Integer),
        sa.Column("person_id", sa.Integer),
        sa.Column("model", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("until", sa.Float, nullable=False),
    )
    # a gallery made before the feed: its processes start from a full read
    op.execute("DELETE FROM meta WHERE key = 'generation'")


def downgrade() -> None:
    raise NotImplementedError("a gallery is not taken back to an earlier schema")
