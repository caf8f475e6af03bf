"""`lukhas-id`: serve, db, tenant, client, keys, revoke, config."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from lukhas_id.bootstrap import Container, build_container
from lukhas_id.domain.client import ClientStatus, GrantType, SubjectType, TokenFormat
from lukhas_id.domain.keys import SigningAlg
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.token import MarkerKind
from lukhas_id.errors import LukhasIdError
from lukhas_id.settings import CONFIG_FILE_ENV, Settings, load_settings, masked

T = TypeVar("T")

app = typer.Typer(
    name="lukhas-id",
    help="ΛiD (Lukhas ID): an OAuth 2.1 / OpenID Connect identity server.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenant_app = typer.Typer(help="Tenants (each has its own issuer, keys, clients and principals).", no_args_is_help=True)
client_app = typer.Typer(help="OAuth clients.", no_args_is_help=True)
keys_app = typer.Typer(help="Signing keys.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(client_app, name="client")
app.add_typer(keys_app, name="keys")
app.add_typer(config_app, name="config")


class CliError(Exception):
    pass


def fail(message: str) -> NoReturn:
    raise CliError(message)


@app.callback()
def _root(
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML configuration file (environment variables win).")
    ] = None,
) -> None:
    if config is not None:
        if not config.is_file():
            fail(f"config file {config} does not exist")
        os.environ[CONFIG_FILE_ENV] = str(config.resolve())


def _settings(**overrides: Any) -> Settings:
    return load_settings(**overrides)


def run(body: Callable[[Container], Awaitable[T]], *, upgrade: bool = False) -> T:
    async def main() -> T:
        container = await build_container(_settings(), upgrade=upgrade)
        try:
            return await body(container)
        finally:
            await container.aclose()

    return asyncio.run(main())


async def _tenant(c: Container, name: str | None) -> Tenant:
    name = name or c.settings.default_tenant
    if name == c.settings.default_tenant:
        tenant, _ = await c.tenants.ensure(name, c.settings.access_token_alg)
        return tenant
    found = await c.tenants.by_name(name)
    if found is None:
        fail(f"no tenant named {name!r} (create it with `lukhas-id tenant create {name}`)")
    return found


TenantOpt = Annotated[str | None, typer.Option("--tenant", "-t", help="Tenant name (default: the default tenant).")]


# --- serve ---------------------------------------------------------------------------------------


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address.")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
) -> None:
    """Serve ΛiD (prepares the embedded database and the default tenant first)."""
    overrides = {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    settings = _settings(**overrides)
    for name, value in overrides.items():
        os.environ[f"LUKHAS_ID_{name.upper()}"] = str(value)

    async def prepare() -> str:
        container = await build_container(settings)
        try:
            tenant, _ = await container.tenants.ensure(settings.default_tenant, settings.access_token_alg)
            return container.tenants.issuer(tenant)
        finally:
            await container.aclose()

    issuer = asyncio.run(prepare())
    typer.echo(f"ΛiD serving issuer {issuer} on http://{settings.host}:{settings.port} ({settings.workers} worker(s))")
    command = sys.argv[0] if sys.argv[0].endswith("lukhas-id") else "lukhas-id"
    typer.echo(f"Create a first client: {command} client create --grant client_credentials --scope 'api:read'")
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces

    Granian(
        "lukhas_id.web.app:create_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        workers=settings.workers,
        interface=Interfaces.ASGI,
        log_level=settings.log_level.lower(),  # type: ignore[arg-type]
        log_access=False,
        backlog=2048,
        http=HTTPModes.http1,
    ).serve()


# --- db ------------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the database schema to this version's migrations."""

    async def body(c: Container) -> str:
        return c.database.head_revision()

    revision = run(body, upgrade=True)
    typer.echo(f"database schema is at revision {revision}")


# --- tenant --------------------------------------------------------------------------------------


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


# --- client --------------------------------------------------------------------------------------


@client_app.command("create")
def client_create(
    tenant: TenantOpt = None,
    grant: Annotated[list[GrantType], typer.Option(help="Grant type the client may use.")] = [  # noqa: B006
        GrantType.CLIENT_CREDENTIALS
    ],
    scope: Annotated[str, typer.Option(help="Space-separated scopes the client may ask for.")] = "",
    resource: Annotated[
        list[str] | None,
        typer.Option(help="RFC 8707 resource (audience) it may ask for; the first is the default."),
    ] = None,
    token_format: Annotated[TokenFormat, typer.Option(help="Access token format.")] = TokenFormat.JWT,
    principal_type: Annotated[
        PrincipalType, typer.Option(help="Principal type the client acts as: SVC, AGT or SYS.")
    ] = PrincipalType.SERVICE,
    name: Annotated[str, typer.Option(help="Display name.")] = "client",
    ttl: Annotated[int | None, typer.Option(help="Access token lifetime in seconds.")] = None,
    redirect_uri: Annotated[
        list[str] | None, typer.Option(help="Redirect URI (authorization_code clients; repeat for several).")
    ] = None,
    post_logout_redirect_uri: Annotated[
        list[str] | None, typer.Option(help="Where RP-initiated logout may return (repeat for several).")
    ] = None,
    public: Annotated[bool, typer.Option(help="A public client: no secret (native and browser apps).")] = False,
    first_party: Annotated[bool, typer.Option(help="Skip the consent page for this client.")] = False,
    pairwise: Annotated[bool, typer.Option(help="Give this client pairwise subject identifiers.")] = False,
    id_token_alg: Annotated[SigningAlg, typer.Option(help="id_token_signed_response_alg.")] = SigningAlg.RS256,
    refresh_grace: Annotated[
        int, typer.Option(help="Seconds a just-rotated refresh token may be presented again (0: strict).")
    ] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Register a client; its secret is printed once and stored only as a keyed hash."""

    async def body(c: Container) -> dict[str, Any]:
        t = await _tenant(c, tenant)
        client, secret = await c.clients.create(
            t,
            name=name,
            grant_types=frozenset(grant),
            scopes=frozenset(scope.split()),
            resources=tuple(resource or ()),
            token_format=token_format,
            principal_type=principal_type,
            access_token_ttl=ttl,
            redirect_uris=tuple(redirect_uri or ()),
            post_logout_redirect_uris=tuple(post_logout_redirect_uri or ()),
            public=public,
            first_party=first_party,
            subject_type=SubjectType.PAIRWISE if pairwise else SubjectType.PUBLIC,
            id_token_signed_response_alg=id_token_alg.value,
            refresh_grace_seconds=refresh_grace,
        )
        if GrantType.AUTHORIZATION_CODE in client.grant_types:
            # Made now rather than on the first sign-in: ID token keys are published before they sign.
            await c.keys.ensure(t.id, SigningAlg(client.id_token_signed_response_alg))
        return {
            "client_id": client.client_id,
            "client_secret": secret,
            "token_endpoint_auth_method": client.token_endpoint_auth_method.value,
            "redirect_uris": list(client.redirect_uris),
            "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
            "issuer": c.tenants.issuer(t),
            "tenant": t.name,
            "lid": client.principal_lid,
            "principal_type": client.principal_type.value,
            "grant_types": sorted(client.grant_types),
            "scope": " ".join(sorted(client.scopes)),
            "resources": list(client.resources),
            "token_format": client.token_format.value,
            "token_endpoint": f"{c.tenants.issuer(t)}/oauth2/token",
        }

    out = run(body)
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"client_id:     {out['client_id']}")
    if out["client_secret"] is not None:
        typer.echo(f"client_secret: {out['client_secret']}   (shown once; store it now)")
    else:
        typer.echo("client_secret: none (a public client)")
    typer.echo(f"ΛID:           {out['lid']}")
    typer.echo(f"issuer:        {out['issuer']}")


@client_app.command("registration-token")
def client_registration_token(
    tenant: TenantOpt = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds (60 to 366 days).")] = 86400,
) -> None:
    """Make an initial access token for dynamic client registration (RFC 7591) at {issuer}/oauth2/register.

    The token alone goes to standard output, once; it is stored only as a keyed hash and registers any
    number of clients until it expires."""

    async def body(c: Container) -> tuple[str, str]:
        t = await _tenant(c, tenant)
        try:
            token = await c.registration.issue_initial_token(t, ttl)
        except ValueError as exc:
            fail(str(exc))
        return token, f"{c.tenants.issuer(t)}/oauth2/register"

    token, endpoint = run(body)
    typer.echo(token)
    typer.echo(f"initial access token for {endpoint}, valid {ttl} s (shown once; store it now)", err=True)


@client_app.command("list")
def client_list(tenant: TenantOpt = None) -> None:
    async def body(c: Container) -> list[str]:
        t = await _tenant(c, tenant)
        return [
            f"{cl.client_id}\t{cl.principal_lid}\t{cl.status}\t{cl.token_format}\t{' '.join(sorted(cl.scopes))}"
            for cl in await c.clients.list(t.id)
        ]

    for line in run(body):
        typer.echo(line)


def _set_status(tenant: str | None, client_id: str, status: ClientStatus) -> None:
    async def body(c: Container) -> bool:
        return await c.clients.set_status((await _tenant(c, tenant)).id, client_id, status)

    if not run(body):
        fail(f"no client {client_id!r} in that tenant")
    typer.echo(f"client {client_id} {status}")


@client_app.command("disable")
def client_disable(client_id: str, tenant: TenantOpt = None) -> None:
    _set_status(tenant, client_id, ClientStatus.DISABLED)


@client_app.command("enable")
def client_enable(client_id: str, tenant: TenantOpt = None) -> None:
    _set_status(tenant, client_id, ClientStatus.ACTIVE)


# --- keys ----------------------------------------------------------------------------------------


@keys_app.command("list")
def keys_list(tenant: TenantOpt = None) -> None:
    async def body(c: Container) -> list[str]:
        t = await _tenant(c, tenant)
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
        t = await _tenant(c, tenant)
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


# --- revoke --------------------------------------------------------------------------------------


@app.command()
def revoke(
    tenant: TenantOpt = None,
    client: Annotated[str | None, typer.Option("--client", help="Client id.")] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Subject ΛID.")] = None,
) -> None:
    """Make every token of a client or subject issued until now inactive (a not-before marker)."""
    if (client is None) == (subject is None):
        fail("give exactly one of --client or --subject")

    async def body(c: Container) -> int:
        t = await _tenant(c, tenant)
        if client is not None:
            return await c.tokens.revoke_all(t, MarkerKind.CLIENT, client)
        from lukhas_id import ids

        if subject is None or not ids.validate(subject):
            fail("--subject is not a valid ΛID")
        return await c.tokens.revoke_all(t, MarkerKind.SUBJECT, subject)

    at = run(body)
    typer.echo(f"tokens issued at or before {at} (epoch seconds) are now inactive")


# --- config --------------------------------------------------------------------------------------


@config_app.command("show")
def config_show() -> None:
    """Print the effective configuration (secrets masked)."""
    typer.echo(json.dumps(masked(_settings()), indent=2, default=str))


from lukhas_id.cli.users import user_app  # noqa: E402  (it imports the helpers above)

app.add_typer(user_app, name="user")


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, standalone_mode=False)
    except CliError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except LukhasIdError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click usage errors and the rest: one line, non-zero
        import click

        if isinstance(exc, click.exceptions.ClickException):
            typer.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)
