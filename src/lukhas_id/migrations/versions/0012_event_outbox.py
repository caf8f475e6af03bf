"""The identity event outbox: events written with their change, relayed to NATS JetStream or in process.

`event_outbox` holds one row per event (global `position`, the tenant's `seq`, the event id, type, time,
the JSON payload and when it was sent); `event_outbox_heads` holds each tenant's last sequence number,
whose row lock orders a tenant's event writers (ADR 0008); `event_relay_leases` says which process relays.
Portable types only: the same statements serve SQLite and PostgreSQL.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("position", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_event_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_event_outbox_event_id")),
        sa.UniqueConstraint("tenant_id", "seq", name=op.f("uq_event_outbox_tenant_id_seq")),
    )
    op.create_index(op.f("ix_event_outbox_sent_at_position"), "event_outbox", ["sent_at", "position"], unique=False)
    op.create_table(
        "event_outbox_heads",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_event_outbox_heads")),
    )
    op.create_table(
        "event_relay_leases",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_relay_leases")),
    )


def downgrade() -> None:
    op.drop_table("event_relay_leases")
    op.drop_table("event_outbox_heads")
    op.drop_index(op.f("ix_event_outbox_sent_at_position"), table_name="event_outbox")
    op.drop_table("event_outbox")
