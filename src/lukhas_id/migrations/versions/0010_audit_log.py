"""The tamper-evident audit log: records in a per-tenant hash chain, chain heads, signed checkpoints, the audit key.

`audit_records` and `audit_checkpoints` are append-only: triggers refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL), so no code path and no mistaken statement changes them. They are a safety rail, not the
guarantee: whoever owns the database can drop a trigger; the hash chain and the signed checkpoints are what
make a change detectable (docs/audit.md).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY: tuple[str, ...] = ("audit_records", "audit_checkpoints")
_PG_FUNCTION = """
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END
$$
"""


def _create_tables() -> None:
    op.create_table(
        "audit_records",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("time_us", sa.BigInteger(), nullable=False),
        sa.Column("principal", sa.String(), nullable=True),
        sa.Column("principal_type", sa.String(), nullable=True),
        sa.Column("client_id", sa.String(), nullable=True),
        sa.Column("trace_id", sa.String(), nullable=True),
        sa.Column("origin", sa.String(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_audit_records")),
    )
    op.create_index(op.f("ix_audit_records_time_us"), "audit_records", ["time_us"])
    op.create_index(op.f("ix_audit_records_event_id"), "audit_records", ["event_id"])
    op.create_table(
        "audit_heads",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_audit_heads")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("jws", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_keys",
        sa.Column("kid", sa.String(), nullable=False),
        sa.Column("alg", sa.String(), nullable=False),
        sa.Column("public_jwk", sa.Text(), nullable=False),
        sa.Column("private_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_audit_keys")),
    )


def upgrade() -> None:
    _create_tables()
    if op.get_context().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
                " FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
            )
    else:
        for table in APPEND_ONLY:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table}"
                    f" BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: {operation} on {table} refused'); END"
                )


def downgrade() -> None:
    for table in ("audit_keys", "audit_checkpoints", "audit_heads", "audit_records"):
        op.drop_table(table)  # the triggers go with their tables
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION audit_append_only()")
