"""Initial schema: tenants, principals, clients, signing keys and the SQL token state.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written out in full (not imported from the models) so that it stays what it was when later
revisions change the models; `tests/contract/test_sql_repositories.py` checks that models and
migrations agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("id_secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("access_token_alg", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("name", name=op.f("uq_tenants_name")),
    )
    op.create_table(
        "principals",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("lid", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("display_name", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_principals_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "lid", name=op.f("pk_principals")),
    )
    op.create_table(
        "clients",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("principal_lid", sa.String(), nullable=False),
        sa.Column("principal_type", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("grant_types", sa.Text(), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("resources", sa.Text(), nullable=False),
        sa.Column("token_format", sa.String(), nullable=False),
        sa.Column("access_token_ttl", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "principal_lid"],
            ["principals.tenant_id", "principals.lid"],
            name=op.f("fk_clients_tenant_id_principal_lid_principals"),
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_clients_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "client_id", name=op.f("pk_clients")),
    )
    op.create_index(op.f("ix_clients_tenant_id_principal_lid"), "clients", ["tenant_id", "principal_lid"], unique=False)
    op.create_table(
        "signing_keys",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("kid", sa.String(), nullable=False),
        sa.Column("alg", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("private_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("activated_at", sa.Double(), nullable=True),
        sa.Column("retired_at", sa.Double(), nullable=True),
        sa.Column("remove_after", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_signing_keys_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "kid", name=op.f("pk_signing_keys")),
    )
    op.create_index(op.f("ix_signing_keys_tenant_id_state"), "signing_keys", ["tenant_id", "state"], unique=False)
    op.create_table(
        "opaque_tokens",
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_opaque_tokens")),
    )
    op.create_index(op.f("ix_opaque_tokens_expires_at"), "opaque_tokens", ["expires_at"], unique=False)
    op.create_table(
        "revoked_jtis",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("jti", sa.String(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "jti", name=op.f("pk_revoked_jtis")),
    )
    op.create_index(op.f("ix_revoked_jtis_expires_at"), "revoked_jtis", ["expires_at"], unique=False)
    op.create_table(
        "not_before_markers",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("ident", sa.String(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "kind", "ident", name=op.f("pk_not_before_markers")),
    )
    op.create_index(op.f("ix_not_before_markers_expires_at"), "not_before_markers", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_not_before_markers_expires_at"), table_name="not_before_markers")
    op.drop_table("not_before_markers")
    op.drop_index(op.f("ix_revoked_jtis_expires_at"), table_name="revoked_jtis")
    op.drop_table("revoked_jtis")
    op.drop_index(op.f("ix_opaque_tokens_expires_at"), table_name="opaque_tokens")
    op.drop_table("opaque_tokens")
    op.drop_index(op.f("ix_signing_keys_tenant_id_state"), table_name="signing_keys")
    op.drop_table("signing_keys")
    op.drop_index(op.f("ix_clients_tenant_id_principal_lid"), table_name="clients")
    op.drop_table("clients")
    op.drop_table("principals")
    op.drop_table("tenants")
