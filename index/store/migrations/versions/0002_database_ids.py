"""Ids and owners that hold across processes and hosts.

- People, photos and faces take their ids from the database and never get one twice
  (SQLite: AUTOINCREMENT, its counter carried over from the `last_id:*` keys that kept it
  before; PostgreSQL: the sequences of 0001).
- The nearest-faces rows of a face that is deleted, moved to another person or embedded
  again are dropped by the store's own writes, not by SQLite triggers.
- An album job's owner is an opaque name (host and process), not a process id.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import socket

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COUNTED = ("people", "photos", "faces")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for trigger in ("nearest_face_deleted", "nearest_face_moved", "nearest_vector_changed"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for table in COUNTED:
            with op.batch_alter_table(table, recreate="always",
                                      table_kwargs={"sqlite_autoincrement": True}):
                pass
            # the highest id ever given: the old counter or the highest row, whichever is more
            op.execute(sa.text(
                "INSERT INTO sqlite_sequence(name, seq) SELECT :t, 0 WHERE NOT EXISTS "
                "(SELECT 1 FROM sqlite_sequence WHERE name = :t)").bindparams(t=table))
            op.execute(sa.text(
                "UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT CAST(value AS "
                "INTEGER) FROM meta WHERE key = :k), 0)) WHERE name = :t"
            ).bindparams(t=table, k=f"last_id:{table}"))
    op.execute(sa.text("DELETE FROM meta WHERE key IN ('last_id:people', 'last_id:photos', "
                       "'last_id:faces')"))
    with op.batch_alter_table("album_jobs") as jobs:
        jobs.alter_column("owner", type_=sa.Text, existing_type=sa.Integer,
                           postgresql_using="owner::text")
    op.execute(sa.text("UPDATE album_jobs SET owner = :host || ':' || owner "
                       "WHERE owner IS NOT NULL").bindparams(host=socket.gethostname()))


def downgrade() -> None:
    raise NotImplementedError("a gallery is not taken back to an earlier schema")
