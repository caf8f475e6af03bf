"""Shared Signals: streams, their subjects, and the durable queue of SETs (docs/ssf.md).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ssf_streams",
        sa.Column("stream_id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("endpoint_url", sa.Text(), nullable=True),
        sa.Column("authorization_enc", sa.LargeBinary(), nullable=True),
        sa.Column("events_requested", sa.Text(), nullable=True),
        sa.Column("events_delivered", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("default_subjects", sa.String(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("verified_at", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_ssf_streams_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("stream_id", name=op.f("pk_ssf_streams")),
    )
    op.create_index(op.f("ix_ssf_streams_tenant_id_client_id"), "ssf_streams", ["tenant_id", "client_id"])
    op.create_table(
        "ssf_subjects",
        sa.Column("stream_id", sa.String(), nullable=False),
        sa.Column("subject_key", sa.String(), nullable=False),
        sa.Column("included", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["stream_id"],
            ["ssf_streams.stream_id"],
            name=op.f("fk_ssf_subjects_stream_id_ssf_streams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("stream_id", "subject_key", name=op.f("pk_ssf_subjects")),
    )
    op.create_table(
        "ssf_sets",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("jti", sa.String(), nullable=False),
        sa.Column("stream_id", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("claims", sa.Text(), nullable=False),
        sa.Column("control", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["stream_id"], ["ssf_streams.stream_id"], name=op.f("fk_ssf_sets_stream_id_ssf_streams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_ssf_sets")),
        sa.UniqueConstraint("jti", name=op.f("uq_ssf_sets_jti")),
    )
    op.create_index(op.f("ix_ssf_sets_stream_id_state_seq"), "ssf_sets", ["stream_id", "state", "seq"])
    op.create_index(op.f("ix_ssf_sets_state_next_attempt_at"), "ssf_sets", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("ssf_sets")
    op.drop_table("ssf_subjects")
    op.drop_index(op.f("ix_ssf_streams_tenant_id_client_id"), table_name="ssf_streams")
    op.drop_table("ssf_streams")
