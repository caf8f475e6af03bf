"""`lukhas-id keys`: list, rotate and import a tenant's signing keys, and re-encrypt private keys under a
new KEK."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from lukhas_id.bootstrap import Container
from lukhas_id.cli.common import TenantOpt, fail, find_tenant, run
from lukhas_id.domain.keys import SigningAlg
from lukhas_id.services.keys import KeyImport

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


# A passphrase file holds one line; anything longer is not a passphrase.
_MAX_PASSPHRASE_BYTES = 4096


def _read_bounded(path: Path, limit: int, what: str) -> bytes:
    """The bytes of `path`, refused when it is not a readable regular file or is larger than `limit`."""
    try:
        if not path.is_file():
            fail(f"{what} {path} is not a file")
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except OSError as exc:
        fail(f"cannot read {what} {path}: {exc.strerror or type(exc).__name__}")
    if len(data) > limit:
        fail(f"{what} {path} is larger than {limit // 1024} KiB")
    return data


@keys_app.command("import")
def keys_import(
    pem: Annotated[Path, typer.Option("--pem", help="PEM file of the private key (PKCS#8 or traditional).")],
    alg: Annotated[
        SigningAlg | None, typer.Option(help="Algorithm (default: the one the key implies; RSA keys need it).")
    ] = None,
    passphrase_file: Annotated[
        Path | None, typer.Option(help="File whose first line is the passphrase of an encrypted PEM.")
    ] = None,
    tenant: TenantOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Add an operator's private signing key as the tenant's next key: published in the JWKS at once,
    signing only after the next `keys rotate` (or automatic rotation). It replaces the generated next key
    of its algorithm. The key is stored encrypted under the KEK and never printed."""
    from lukhas_id.jose.pem import MAX_PEM_BYTES, load_private_pem

    data = _read_bounded(pem, MAX_PEM_BYTES, "PEM file")
    passphrase = None
    if passphrase_file is not None:
        lines = _read_bounded(passphrase_file, _MAX_PASSPHRASE_BYTES, "passphrase file").splitlines()
        passphrase = lines[0] if lines else b""
        if not passphrase:
            fail(f"passphrase file {passphrase_file} is empty")
    try:
        der, chosen = load_private_pem(data, alg, passphrase)
    except ValueError as exc:
        fail(f"{pem}: {exc}")

    async def body(c: Container) -> tuple[KeyImport, str, str, int]:
        t = await find_tenant(c, tenant)
        result = await c.keys.import_key(t.id, der, chosen)
        return result, t.name, t.access_token_alg, c.settings.jwks_max_age

    result, tenant_name, tenant_alg, max_age = run(body)
    if as_json:
        out = {
            "kid": result.kid,
            "alg": result.alg.value,
            "state": "next",
            "tenant": tenant_name,
            "replaced_kids": list(result.replaced_kids),
            "active_kid": result.active_kid,
        }
        typer.echo(json.dumps(out))
        return
    replaced = f"; it replaces the next key {', '.join(result.replaced_kids)}" if result.replaced_kids else ""
    typer.echo(f"imported key {result.kid} ({result.alg}) as the next key of tenant {tenant_name}{replaced}")
    typer.echo(
        f"it is published in the JWKS and signs nothing yet: after {max_age} s (the JWKS max-age), "
        f"`lukhas-id keys rotate --tenant {tenant_name} --alg {result.alg}` makes it active",
        err=True,
    )
    if result.alg != tenant_alg:
        typer.echo(
            f"note: the tenant's access tokens are signed with {tenant_alg}; "
            f"{result.alg} keys sign the ID tokens of clients registered with that algorithm",
            err=True,
        )
