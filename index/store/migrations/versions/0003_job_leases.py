"""Album jobs held by a lease: the owner renews it while the job runs, and any process takes
over a job whose lease has lapsed (its process is gone, on whatever host).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("album_jobs") as jobs:
        jobs.add_column(sa.Column("lease_until", sa.Float))


def downgrade() -> None:
    raise NotImplementedError("a gallery is not taken back to an earlier schema")
