"""Alembic environment of ΛiD: runs the shipped migrations on SQLite or PostgreSQL.

Normally `lukhas_id.adapters.sql.Database.upgrade()` runs them and passes its connection in
``config.attributes["connection"]``; this file then reuses that connection and its transaction.
Run by the ``alembic`` command instead, it takes ``sqlalchemy.url`` from the configuration (online), or
writes the SQL script (``--sql``, offline).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.models import Base

target_metadata = Base.metadata


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_from_url(url: str) -> None:
    database = Database.from_url(url)
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
            await connection.commit()
    finally:
        await database.dispose()


def main() -> None:
    given = context.config.attributes.get("connection")
    if isinstance(given, Connection):
        do_run_migrations(given)
    elif context.is_offline_mode():
        run_migrations_offline()
    else:
        url = context.config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("set sqlalchemy.url or run the migrations through Database.upgrade()")
        asyncio.run(run_migrations_from_url(url))


main()
