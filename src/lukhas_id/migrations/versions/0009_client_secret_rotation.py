"""Clients: the previous secret of a rotation (its keyed hash) and when its overlap ends.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-09
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("previous_secret_hash", sa.String(), nullable=True))
        batch.add_column(sa.Column("previous_secret_expires_at", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        batch.drop_column("previous_secret_expires_at")
        batch.drop_column("previous_secret_hash")
