"""ΛIDs unique across tenants: a unique index on the ΛID alone for each table that holds a principal's own ΛID.

`principals.lid`, `users.lid` (a USR principal's row) and `clients.principal_lid` (each client is its own
principal). The primary keys (tenant_id, lid) stay; these indexes are additions. CREATE UNIQUE INDEX
needs no table rebuild, so the same statements serve SQLite and PostgreSQL. A database that already holds
one ΛID in two tenants stops the upgrade with a message rather than a driver error.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, ΛID column): the tables where a row is the principal, not a reference to one.
LID_COLUMNS: tuple[tuple[str, str], ...] = (("principals", "lid"), ("users", "lid"), ("clients", "principal_lid"))


def _refuse_existing_duplicates() -> None:
    for table, column in LID_COLUMNS:
        shared = op.get_bind().scalar(
            sa.text(f"SELECT COUNT(*) FROM (SELECT {column} FROM {table} GROUP BY {column} HAVING COUNT(*) > 1) d")  # noqa: S608  (constant names)
        )
        if shared:
            raise RuntimeError(
                f"cannot make ΛIDs unique across tenants: {shared} ΛID(s) in table {table} are used more"
                " than once; give those principals new ΛIDs first (see docs/identifiers.md, Uniqueness)"
            )


def upgrade() -> None:
    if not context.is_offline_mode():
        _refuse_existing_duplicates()
    for table, column in LID_COLUMNS:
        op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=True)


def downgrade() -> None:
    for table, column in reversed(LID_COLUMNS):
        op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
