"""The `lukhas-id` command groups' shared pieces: running a command against a Container, one-line errors
and the --tenant option."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, NoReturn, TypeVar

import typer

from lukhas_id.bootstrap import Container, build_container
from lukhas_id.domain.tenant import Tenant
from lukhas_id.settings import load_settings

T = TypeVar("T")


class CliError(Exception):
    """A command's refusal: main() prints "error: <message>" on one line and exits 1."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def run(body: Callable[[Container], Awaitable[T]], *, upgrade: bool = False) -> T:
    """Run `body` against a Container built from the settings, closed afterwards."""

    async def main() -> T:
        container = await build_container(load_settings(), upgrade=upgrade)
        try:
            return await body(container)
        finally:
            await container.aclose()

    return asyncio.run(main())


async def find_tenant(c: Container, name: str | None) -> Tenant:
    """The tenant named `name` (default: the default tenant, created when missing); fails when unknown."""
    name = name or c.settings.default_tenant
    if name == c.settings.default_tenant:
        tenant, _ = await c.tenants.ensure(name, c.settings.access_token_alg)
        return tenant
    found = await c.tenants.by_name(name)
    if found is None:
        fail(f"no tenant named {name!r} (create it with `lukhas-id tenant create {name}`)")
    return found


TenantOpt = Annotated[str | None, typer.Option("--tenant", "-t", help="Tenant name (default: the default tenant).")]
