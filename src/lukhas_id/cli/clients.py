"""`lukhas-id client`: register OAuth clients, list, update, disable, enable and delete them, rotate their
secrets, and make initial access tokens for dynamic client registration (RFC 7591)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from lukhas_id.bootstrap import Container
from lukhas_id.cli.common import TenantOpt, fail, find_tenant, run
from lukhas_id.domain.client import Client, ClientStatus, GrantType, SubjectType, TokenFormat
from lukhas_id.domain.keys import SigningAlg
from lukhas_id.domain.principal import PrincipalType
from lukhas_id.domain.token import MarkerKind

client_app = typer.Typer(help="OAuth clients.", no_args_is_help=True)


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
        t = await find_tenant(c, tenant)
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
        t = await find_tenant(c, tenant)
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
        t = await find_tenant(c, tenant)
        return [
            f"{cl.client_id}\t{cl.principal_lid}\t{cl.status}\t{cl.token_format}\t{' '.join(sorted(cl.scopes))}"
            for cl in await c.clients.list(t.id)
        ]

    for line in run(body):
        typer.echo(line)


def _set_status(tenant: str | None, client_id: str, status: ClientStatus) -> None:
    async def body(c: Container) -> bool:
        return await c.clients.set_status((await find_tenant(c, tenant)).id, client_id, status)

    if not run(body):
        fail(f"no client {client_id!r} in that tenant")
    typer.echo(f"client {client_id} {status}")


@client_app.command("disable")
def client_disable(client_id: str, tenant: TenantOpt = None) -> None:
    _set_status(tenant, client_id, ClientStatus.DISABLED)


@client_app.command("enable")
def client_enable(client_id: str, tenant: TenantOpt = None) -> None:
    _set_status(tenant, client_id, ClientStatus.ACTIVE)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _described(client: Client, tenant_name: str) -> dict[str, Any]:
    """What `client update --json` prints: the client's settings, never its secret."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "tenant": tenant_name,
        "lid": client.principal_lid,
        "status": client.status.value,
        "grant_types": sorted(client.grant_types),
        "scope": " ".join(sorted(client.scopes)),
        "redirect_uris": list(client.redirect_uris),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "resources": list(client.resources),
        "access_token_ttl": client.access_token_ttl,
        "token_format": client.token_format.value,
    }


@client_app.command("update")
def client_update(
    client_id: str,
    tenant: TenantOpt = None,
    name: Annotated[str | None, typer.Option(help="New display name.")] = None,
    scope: Annotated[
        str | None, typer.Option(help="Space-separated scopes the client may ask for (replaces the list).")
    ] = None,
    redirect_uri: Annotated[
        list[str] | None, typer.Option(help="Redirect URI (repeat for several; replaces the list).")
    ] = None,
    ttl: Annotated[int | None, typer.Option(help="Access token lifetime in seconds.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a client's name, scopes, redirect URIs or token lifetime (checked as at registration).

    Running servers see the change within client_cache_ttl; tokens already issued keep their scope
    and lifetime."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name
    if scope is not None:
        changes["scopes"] = frozenset(scope.split())
    if redirect_uri:
        changes["redirect_uris"] = tuple(redirect_uri)
    if ttl is not None:
        changes["access_token_ttl"] = ttl
    if not changes:
        fail("nothing to change: give --name, --scope, --redirect-uri or --ttl")

    async def body(c: Container) -> dict[str, Any]:
        t = await find_tenant(c, tenant)
        client = await c.clients.get(t.id, client_id)
        if client is None:
            fail(f"no client {client_id!r} in that tenant")
        updated = await c.clients.update(replace(client, **changes))
        return _described(updated, t.name)

    out = run(body)
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(f"client {out['client_id']} updated")


@client_app.command("delete")
def client_delete(
    client_id: str,
    tenant: TenantOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Delete a client for good; every token issued to it until now becomes inactive. Its ΛID is never
    given to another principal. Needs --yes."""
    if not yes:
        fail(f"deleting client {client_id} cannot be undone: add --yes to delete it")

    async def body(c: Container) -> tuple[str, int]:
        t = await find_tenant(c, tenant)
        client = await c.clients.get(t.id, client_id)
        if client is None:
            fail(f"no client {client_id!r} in that tenant")
        # Tokens first: should the deletion fail, the client still exists and the command can be run again.
        at = await c.tokens.revoke_all(t, MarkerKind.CLIENT, client_id)
        if not await c.clients.delete(t.id, client_id):
            fail(f"no client {client_id!r} in that tenant")
        return client.principal_lid, at

    lid, at = run(body)
    if as_json:
        typer.echo(json.dumps({"client_id": client_id, "lid": lid, "deleted": True, "tokens_issued_before": at}))
        return
    typer.echo(f"client {client_id} deleted; its tokens issued until now are inactive")


@client_app.command("rotate-secret")
def client_rotate_secret(
    client_id: str,
    tenant: TenantOpt = None,
    overlap: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Seconds the current secret stays accepted (0: refused at once; default: client_secret_overlap).",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a confidential client a new secret, printed once and stored only as a keyed hash.

    The secret it replaces stays accepted for the overlap, then is refused. Only one previous secret is
    kept: rotating again during an overlap drops the secret before it at once."""

    async def body(c: Container) -> dict[str, Any]:
        t = await find_tenant(c, tenant)
        seconds = c.settings.client_secret_overlap if overlap is None else overlap
        rotation = await c.clients.rotate_secret(t.id, client_id, overlap=seconds)
        until = rotation.previous_accepted_until
        return {
            "client_id": rotation.client.client_id,
            "client_secret": rotation.secret,
            "tenant": t.name,
            "overlap": seconds,
            "previous_secret_expires_at": None if until is None else int(until),
            "previous_secret_expires": None if until is None else _utc(until),
            "dropped_previous": rotation.dropped_previous,
            "client_cache_ttl": c.settings.client_cache_ttl,
        }

    out = run(body)
    if as_json:
        del out["client_cache_ttl"]
        typer.echo(json.dumps(out))
        return
    typer.echo(f"client_id:     {out['client_id']}")
    typer.echo(f"client_secret: {out['client_secret']}   (shown once; store it now)")
    if out["previous_secret_expires_at"] is None:
        note = f"the previous secret is refused now (by running servers within {out['client_cache_ttl']:g} s)"
    else:
        note = f"the previous secret is accepted until {out['previous_secret_expires']}"
    if out["dropped_previous"]:
        note += "; the secret replaced before it, still in its overlap, is refused now"
    typer.echo(note, err=True)


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
