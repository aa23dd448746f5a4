"""Collections: a registry of the collections beside the default one, and the collection
each API key works in. Keys made before collections keep what they could do: read and write
keys work in the default collection, admin keys in every collection.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as keys:
        keys.add_column(sa.Column("collection", sa.Text))
    op.execute(sa.text("UPDATE api_keys SET collection = 'default' WHERE scope <> 'admin'"))
    op.create_table(
        "collections",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("created", sa.Text, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("a gallery is not taken back to an earlier schema")
