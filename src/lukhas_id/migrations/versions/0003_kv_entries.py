"""Short-lived key-value state for the embedded default (authorization codes, sessions, challenges).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "kv_entries",
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=True),
        sa.Column("counter", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_kv_entries")),
    )
    op.create_index(op.f("ix_kv_entries_expires_at"), "kv_entries", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_kv_entries_expires_at"), table_name="kv_entries")
    op.drop_table("kv_entries")
