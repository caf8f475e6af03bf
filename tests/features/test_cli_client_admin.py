"""`lukhas-id client update|delete`, run as the real command against the deployment a server is using
(embedded SQLite, and PostgreSQL + Redis)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from tests.support.cli import Run, make_cli
from tests.support.harness import Harness

REDIRECT = "https://rp.example.com/cb"


@pytest.fixture
def cli(backend: dict[str, object], tmp_path: Path) -> Run:
    """The command, on the same database (and Redis) as the harness's server."""
    env = {f"LUKHAS_ID_{name.upper()}": str(value) for name, value in backend.items() if name != "var_dir"}
    return functools.partial(make_cli(tmp_path), extra=env)


def created(cli: Run, *args: str) -> dict[str, object]:
    out: dict[str, object] = json.loads(cli("client", "create", "--json", *args).stdout)
    return out


async def test_update_name_scope_redirect_uris_and_ttl(h: Harness, cli: Run) -> None:
    rp = created(cli, "--grant", "authorization_code", "--scope", "openid", "--redirect-uri", REDIRECT)
    cid = str(rp["client_id"])
    proc = cli(
        "client", "update", cid, "--name", "Example RP", "--scope", "openid profile",
        "--redirect-uri", REDIRECT, "--redirect-uri", "https://rp.example.com/cb2", "--ttl", "120", "--json",
    )  # fmt: skip
    out = json.loads(proc.stdout)
    assert out["client_id"] == cid and out["name"] == "Example RP" and out["scope"] == "openid profile"
    assert out["redirect_uris"] == [REDIRECT, "https://rp.example.com/cb2"] and out["access_token_ttl"] == 120
    assert out["lid"] == rp["lid"] and "client_secret" not in out and str(rp["client_secret"]) not in proc.stdout
    tenant = await h.tenant()
    [stored] = await h.c.clients.list(tenant.id)
    assert stored.name == "Example RP" and stored.scopes == {"openid", "profile"} and stored.access_token_ttl == 120
    # Only what was given changes.
    assert cli("client", "update", cid, "--ttl", "300").stdout.strip() == f"client {cid} updated"
    [stored] = await h.c.clients.list(tenant.id)
    assert stored.name == "Example RP" and stored.access_token_ttl == 300 and len(stored.redirect_uris) == 2


async def test_update_applies_to_new_tokens(h: Harness, cli: Run) -> None:
    m2m = created(cli, "--scope", "api:read api:write")
    cli("client", "update", str(m2m["client_id"]), "--scope", "api:read", "--ttl", "90")
    resp = await h.http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(str(m2m["client_id"]), str(m2m["client_secret"])),
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["expires_in"] == 90 and resp.json()["scope"] == "api:read"


async def test_update_is_checked_as_registration_is(h: Harness, cli: Run) -> None:
    rp = created(cli, "--grant", "authorization_code", "--scope", "openid", "--redirect-uri", REDIRECT)
    cid = str(rp["client_id"])
    assert "redirect URI" in cli("client", "update", cid, "--redirect-uri", "https://*.example.com/cb", ok=False).stderr
    assert "between 30" in cli("client", "update", cid, "--ttl", "5", ok=False).stderr
    assert "scope" in cli("client", "update", cid, "--scope", 'a"b', ok=False).stderr
    assert "nothing to change" in cli("client", "update", cid, ok=False).stderr
    assert "no client" in cli("client", "update", "cl_nope", "--ttl", "60", ok=False).stderr
    assert "no tenant" in cli("client", "update", cid, "--ttl", "60", "--tenant", "nowhere", ok=False).stderr
    [stored] = await h.c.clients.list((await h.tenant()).id)
    assert stored.redirect_uris == (REDIRECT,) and stored.access_token_ttl == h.settings.access_token_ttl


async def test_delete_needs_yes_then_removes_the_client_and_ends_its_tokens(h: Harness, cli: Run) -> None:
    rc = await h.client()
    token = await h.access_token(rc)
    watcher = await h.client()  # a resource server of the same audience, to introspect with
    assert (await h.introspect(watcher, token))["active"] is True

    assert "add --yes" in cli("client", "delete", rc.client_id, ok=False).stderr
    assert (await h.introspect(watcher, token))["active"] is True

    out = json.loads(cli("client", "delete", rc.client_id, "--yes", "--json").stdout)
    assert out["client_id"] == rc.client_id and out["lid"] == rc.client.principal_lid and out["deleted"] is True
    assert (await h.introspect(watcher, token))["active"] is False
    listed = cli("client", "list").stdout
    assert rc.client_id not in listed and watcher.client_id in listed
    assert "no client" in cli("client", "delete", rc.client_id, "--yes", ok=False).stderr
    text = cli("client", "delete", watcher.client_id, "--yes").stdout
    assert text.strip() == f"client {watcher.client_id} deleted; its tokens issued until now are inactive"
