"""The `lukhas-id` command groups' shared pieces: running a command against a Container, one-line errors
and the --tenant option."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, NoReturn, TypeVar

import typer

from lukhas_id.bootstrap import Container, build_container
from lukhas_id.domain.tenant import Tenant
from lukhas_id.observability.context import acting
from lukhas_id.settings import load_settings

T = TypeVar("T")


class CliError(Exception):
    """A command's refusal: main() prints "error: <message>" on one line and exits 1."""


def fail(message: str) -> NoReturn:
    raise CliError(message)


def command_origin() -> str:
    """`cli <command>` for the command running now (e.g. `cli user delete`): the origin of its events and
    audit records (observability/context.py `acting`)."""
    try:  # Typer 0.16 and later carry their own copy of click
        from typer._click.globals import get_current_context
    except ImportError:  # pragma: no cover - older Typer runs on click itself
        from click import get_current_context  # type: ignore[no-redef]

    context = get_current_context(silent=True)
    names: list[str] = []
    while context is not None and context.parent is not None:  # the root's name is the program's: left out
        names.append(context.info_name or "")
        context = context.parent
    return " ".join(["cli", *reversed(names)])


def run(body: Callable[[Container], Awaitable[T]], *, upgrade: bool = False) -> T:
    """Run `body` against a Container built from the settings, closed afterwards, in a context of its own
    (a fresh trace id, the command as its origin) so that what it changes is attributed to it."""
    origin = command_origin()

    async def main() -> T:
        with acting(origin):
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
