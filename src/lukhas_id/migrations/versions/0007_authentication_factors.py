"""Authentication factors: passkeys (WebAuthn credentials), TOTP factors, recovery codes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _user_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "user_lid"], ["users.tenant_id", "users.lid"], name=op.f(f"fk_{table}_tenant_id_user_lid_users")
    )


def upgrade() -> None:
    op.create_table(
        "passkeys",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("handle", sa.String(), nullable=False),
        sa.Column("user_lid", sa.String(), nullable=False),
        sa.Column("data_enc", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("backup_eligible", sa.Boolean(), nullable=False),
        sa.Column("backup_state", sa.Boolean(), nullable=False),
        sa.Column("user_verified", sa.Boolean(), nullable=False),
        sa.Column("possibly_cloned", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_used_at", sa.Double(), nullable=True),
        _user_fk("passkeys"),
        sa.PrimaryKeyConstraint("tenant_id", "handle", name=op.f("pk_passkeys")),
    )
    op.create_index(op.f("ix_passkeys_tenant_id_user_lid"), "passkeys", ["tenant_id", "user_lid"])
    op.create_table(
        "totp_factors",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("user_lid", sa.String(), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        _user_fk("totp_factors"),
        sa.PrimaryKeyConstraint("tenant_id", "user_lid", name=op.f("pk_totp_factors")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("user_lid", sa.String(), nullable=False),
        sa.Column("code_hash", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("used_at", sa.Double(), nullable=True),
        _user_fk("recovery_codes"),
        sa.PrimaryKeyConstraint("tenant_id", "user_lid", "code_hash", name=op.f("pk_recovery_codes")),
    )


def downgrade() -> None:
    op.drop_table("recovery_codes")
    op.drop_table("totp_factors")
    op.drop_index(op.f("ix_passkeys_tenant_id_user_lid"), table_name="passkeys")
    op.drop_table("passkeys")
