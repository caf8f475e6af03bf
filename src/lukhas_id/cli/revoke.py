"""`lukhas-id revoke`: every token of a client or subject issued until now made inactive (not-before marker)."""

from __future__ import annotations

from typing import Annotated

import typer

from lukhas_id.bootstrap import Container
from lukhas_id.cli.common import TenantOpt, fail, find_tenant, run
from lukhas_id.domain.token import MarkerKind


def revoke(
    tenant: TenantOpt = None,
    client: Annotated[str | None, typer.Option("--client", help="Client id.")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Subject ΛID.")] = None,
) -> None:
    """Make every token of a client or subject issued until now inactive (a not-before marker)."""
    if (client is None) == (subject is None):
        fail("give exactly one of --client or --subject")

    async def body(c: Container) -> int:
        t = await find_tenant(c, tenant)
        if client is not None:
            if await c.clients.get(t.id, client) is None:
                fail(f"no client {client!r} in tenant {t.name!r}")
            return await c.tokens.revoke_all(t, MarkerKind.CLIENT, client)
        from lukhas_id import ids

        if subject is None or not ids.validate(subject):
            fail("--subject is not a valid ΛID")
        return await c.tokens.revoke_all(t, MarkerKind.SUBJECT, subject)

    at = run(body)
    typer.echo(f"tokens issued at or before {at} (epoch seconds) are now inactive")
