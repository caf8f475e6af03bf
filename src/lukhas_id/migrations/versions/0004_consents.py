"""Consents: the scopes each user granted each client.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consents",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("user_lid", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("granted_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_lid"],
            ["users.tenant_id", "users.lid"],
            name=op.f("fk_consents_tenant_id_user_lid_users"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "user_lid", "client_id", name=op.f("pk_consents")),
    )


def downgrade() -> None:
    op.drop_table("consents")
