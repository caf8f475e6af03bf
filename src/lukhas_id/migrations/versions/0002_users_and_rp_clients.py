"""Users, and the client columns of relying parties that sign people in.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01

`users`: one row per USR principal, username_key unique per tenant. `clients`: redirect URIs, the
token endpoint auth method, ID token algorithm, subject type, first-party flag and refresh-token grace
period; their server defaults are a machine client's values, so existing rows keep working.

Written out in full (not imported from the models), like 0001. Both directions go through
`batch_alter_table` for `clients`: adding NOT NULL columns with constant defaults is a plain ALTER TABLE
on both databases; dropping them makes Alembic copy the table on SQLite.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLIENT_COLUMNS = (
    "redirect_uris",
    "post_logout_redirect_uris",
    "token_endpoint_auth_method",
    "id_token_signed_response_alg",
    "subject_type",
    "first_party",
    "refresh_grace_seconds",
)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("lid", sa.String(), nullable=False),
        sa.Column("username", sa.String(), nullable=False),
        sa.Column("username_key", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("email_verified", sa.Boolean(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("password_hash", sa.String(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lid"],
            ["principals.tenant_id", "principals.lid"],
            name=op.f("fk_users_tenant_id_lid_principals"),
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "lid", name=op.f("pk_users")),
        sa.UniqueConstraint("tenant_id", "username_key", name=op.f("uq_users_tenant_id_username_key")),
    )
    # Adding NOT NULL columns with a constant default is a plain ALTER TABLE on both databases.
    with op.batch_alter_table("clients") as batch:
        batch.add_column(sa.Column("redirect_uris", sa.Text(), server_default=sa.text("'[]'"), nullable=False))
        batch.add_column(
            sa.Column("post_logout_redirect_uris", sa.Text(), server_default=sa.text("'[]'"), nullable=False)
        )
        batch.add_column(
            sa.Column(
                "token_endpoint_auth_method",
                sa.String(),
                server_default=sa.text("'client_secret_basic'"),
                nullable=False,
            )
        )
        batch.add_column(
            sa.Column("id_token_signed_response_alg", sa.String(), server_default=sa.text("'RS256'"), nullable=False)
        )
        batch.add_column(sa.Column("subject_type", sa.String(), server_default=sa.text("'public'"), nullable=False))
        batch.add_column(sa.Column("first_party", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("refresh_grace_seconds", sa.Integer(), server_default=sa.text("0"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("clients") as batch:
        for name in reversed(_CLIENT_COLUMNS):
            batch.drop_column(name)
    op.drop_table("users")
