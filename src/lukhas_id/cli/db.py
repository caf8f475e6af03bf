"""`lukhas-id db`: the database schema (Alembic migrations)."""

from __future__ import annotations

import typer

from lukhas_id.bootstrap import Container
from lukhas_id.cli.common import run

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the database schema to this version's migrations."""

    async def body(c: Container) -> str:
        return c.database.head_revision()

    revision = run(body, upgrade=True)
    typer.echo(f"database schema is at revision {revision}")
