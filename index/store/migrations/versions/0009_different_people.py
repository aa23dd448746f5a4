"""Pairs of people a user said are different people: look-alikes no longer offered as one
person enrolled twice. A pair goes with either person (a cascade).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "different_people",
        sa.Column("a", sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("b", sa.Integer, sa.ForeignKey("people.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("created", sa.Text, nullable=False),
    )
    op.create_index("different_people_b", "different_people", ["b"])


def downgrade() -> None:
    raise NotImplementedError("a gallery is not taken back to an earlier schema")
