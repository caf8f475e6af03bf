"""`lukhas-id tenant`: create and list tenants, each served under its own issuer."""

from __future__ import annotations

from typing import Annotated

import typer

from lukhas_id.bootstrap import Container
from lukhas_id.cli.common import run
from lukhas_id.domain.keys import SigningAlg

tenant_app = typer.Typer(help="Tenants (each has its own issuer, keys, clients and principals).", no_args_is_help=True)


@tenant_app.command("create")
def tenant_create(
    name: str,
    alg: Annotated[SigningAlg | None, typer.Option(help="Access token signing algorithm.")] = None,
) -> None:
    """Create a tenant with its signing keys; it is served under /t/NAME."""

    async def body(c: Container) -> str:
        tenant = await c.tenants.create(name, alg or c.settings.access_token_alg)
        return c.tenants.issuer(tenant)

    typer.echo(f"tenant {name} created; issuer {run(body)}")


@tenant_app.command("list")
def tenant_list() -> None:
    async def body(c: Container) -> list[str]:
        return [f"{t.name}\t{c.tenants.issuer(t)}\t{t.access_token_alg}" for t in await c.tenants.list()]

    for line in run(body):
        typer.echo(line)
