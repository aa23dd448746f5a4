"""Album jobs that run on a Ray cluster: whichever process takes the job up runs it there.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("album_jobs") as jobs:
        jobs.add_column(sa.Column("ray", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    raise NotImplementedError("a gallery is not taken back to an earlier schema")
