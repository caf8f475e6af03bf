"""`lukhas-id keys`: list and rotate a tenant's signing keys, and re-encrypt private keys under a new KEK."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lukhas_id.bootstrap import Container
from lukhas_id.cli.common import TenantOpt, fail, find_tenant, run
from lukhas_id.domain.keys import SigningAlg

keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)


@keys_app.command("list")
def keys_list(tenant: TenantOpt = None) -> None:
    async def body(c: Container) -> list[str]:
        t = await find_tenant(c, tenant)
        ks = await c.keys.load(t.id)
        return [f"{k.kid}\t{k.alg}\t{k.state}" for k in ks.keys]

    for line in run(body):
        typer.echo(line)


@keys_app.command("rotate")
def keys_rotate(
    tenant: TenantOpt = None,
    alg: Annotated[SigningAlg | None, typer.Option(help="Algorithm (default: the tenant's).")] = None,
) -> None:
    """Promote the next key, retire the active one (still published until its tokens expire)."""

    async def body(c: Container) -> str:
        t = await find_tenant(c, tenant)
        result = await c.keys.rotate(t.id, alg or SigningAlg(t.access_token_alg))
        if not result.rotated:
            fail("another process rotated the keys at the same moment; nothing changed (run `keys list`)")
        note = ""
        if result.next_published_for < c.settings.jwks_max_age:
            note = (
                f" (the promoted key was published only {int(result.next_published_for)} s ago, less than the "
                f"JWKS max-age of {c.settings.jwks_max_age} s: clients with a cached JWKS refetch on the new kid)"
            )
        return f"active key {result.active_kid}; retired {result.retired_kid or 'none'}{note}"

    typer.echo(run(body))


@keys_app.command("rewrap")
def keys_rewrap(
    new_kek: Annotated[str | None, typer.Option(help="New KEK as base64 of 32 bytes; '-' reads stdin.")] = None,
    new_kek_file: Annotated[Path | None, typer.Option(help="File holding the new KEK as base64.")] = None,
) -> None:
    """Re-encrypt every private key under a new KEK, in one transaction."""
    from lukhas_id.adapters.crypto.kek import Kek, load_kek_file, parse_kek_b64

    if (new_kek is None) == (new_kek_file is None):
        fail("give exactly one of --new-kek or --new-kek-file")
    try:
        if new_kek_file is not None:
            raw = load_kek_file(new_kek_file)
        elif new_kek == "-":
            raw = parse_kek_b64(sys.stdin.read().strip())
        else:
            raw = parse_kek_b64(new_kek or "")
    except ValueError as exc:
        fail(f"new KEK: {exc}")
    new = Kek(raw)

    async def body(c: Container) -> int:
        old = c.kek
        return await c.material.rewrap(lambda blob: new.encrypt(old.decrypt(blob)))

    count = run(body)
    typer.echo(
        f"re-encrypted {count} values under KEK {new.key_id}; now point LUKHAS_ID_KEK (or LUKHAS_ID_KEK_FILE) "
        "at the new key and restart every ΛiD process"
    )
