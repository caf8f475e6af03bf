"""Client secret rotation (RFC 6749 §2.3.1 secrets): `lukhas-id client rotate-secret` and
ClientService.rotate_secret, on a running server (embedded SQLite, and PostgreSQL + Redis).

The previous secret stays accepted until its overlap ends, then is refused; the new one works at once,
also on a server that cached the client before another process rotated its secret.
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

import httpx
import pytest

from lukhas_id.clock import FixedClock
from lukhas_id.domain.client import ClientAuthMethod, GrantType
from lukhas_id.domain.events import EventType
from lukhas_id.errors import Conflict, NotFound
from lukhas_id.services.clients import InvalidClientSettings
from tests.support.cli import Run, make_cli
from tests.support.events import assert_clean, of, recorder
from tests.support.harness import Harness, RegisteredClient, basic

REDIRECT = "https://rp.example.com/cb"


@pytest.fixture
def env(backend: dict[str, object]) -> dict[str, str]:
    """The settings that put a command on the same database (and Redis) as the harness's server."""
    return {f"LUKHAS_ID_{name.upper()}": str(value) for name, value in backend.items() if name != "var_dir"}


@pytest.fixture
def cli(env: dict[str, str], tmp_path: Path) -> Run:
    return functools.partial(make_cli(tmp_path), extra=env)


async def token_with(h: Harness, rc: RegisteredClient, secret: str, *, post: bool = False) -> httpx.Response:
    form = {"grant_type": "client_credentials"}
    if post:
        form |= {"client_id": rc.client_id, "client_secret": secret}
        return await h.http.post("/oauth2/token", data=form)
    return await h.http.post("/oauth2/token", data=form, headers=basic(rc.client_id, secret))


async def test_cli_rotation_on_a_running_server_overlap_then_refusal(
    hc: Harness, clock: FixedClock, cli: Run, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rc = await hc.client()
    old = rc.secret
    assert (await token_with(hc, rc, old)).status_code == 200  # the server now caches the client

    proc = cli("client", "rotate-secret", rc.client_id, "--overlap", "3600")
    lines = proc.stdout.splitlines()
    assert lines[0] == f"client_id:     {rc.client_id}"
    new = lines[1].split()[1]
    assert lines[1] == f"client_secret: {new}   (shown once; store it now)" and len(lines) == 2
    assert "previous secret is accepted until" in proc.stderr and new not in proc.stderr
    assert old not in proc.stdout + proc.stderr

    # The other process's rotation is seen at once (the cached record is read again on a mismatch).
    assert (await token_with(hc, rc, new)).status_code == 200
    assert (await token_with(hc, rc, old)).status_code == 200

    stored = await hc.c.clients.reload(rc.tenant.id, rc.client_id)
    assert stored is not None and stored.previous_secret_expires_at is not None
    clock.set(stored.previous_secret_expires_at - 0.5)  # the CLI's clock is the system's: its end, not ours
    assert (await token_with(hc, rc, old)).status_code == 200
    clock.advance(0.5)
    refused = await token_with(hc, rc, old)
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    assert (await token_with(hc, rc, new)).status_code == 200
    logged = "\n".join(r.getMessage() + " " + str(r.__dict__) for r in caplog.records)
    assert old not in logged and new not in logged


async def test_overlap_boundary_with_the_fixed_clock(hc: Harness, clock: FixedClock) -> None:
    rc = await hc.client()
    rp = await hc.client(auth_method=ClientAuthMethod.CLIENT_SECRET_POST)
    seen = recorder(hc)
    rotation = await hc.c.clients.rotate_secret(rc.tenant.id, rc.client_id, overlap=600)
    assert rotation.previous_accepted_until == clock.now() + 600 and not rotation.dropped_previous
    assert rotation.secret != rc.secret and rotation.secret not in rotation.client.secret_hash
    posted = await hc.c.clients.rotate_secret(rp.tenant.id, rp.client_id, overlap=600)

    clock.advance(599.999)
    assert (await token_with(hc, rc, rc.secret)).status_code == 200
    assert (await token_with(hc, rp, rp.secret, post=True)).status_code == 200
    clock.advance(0.001)  # the overlap ends: refused from this instant
    assert (await token_with(hc, rc, rc.secret)).status_code == 401
    assert (await token_with(hc, rp, rp.secret, post=True)).status_code == 401
    assert (await token_with(hc, rc, rotation.secret)).status_code == 200
    assert (await token_with(hc, rp, posted.secret, post=True)).status_code == 200

    event = of(seen, EventType.CLIENT_SECRET_ROTATED)[0]
    assert dict(event.metadata) == {"client_id": rc.client_id, "overlap": "600"}
    assert event.principal == rc.client.principal_lid and event.tenant_id == rc.tenant.id
    stored = await hc.c.clients.get(rc.tenant.id, rc.client_id)
    assert stored is not None
    assert_clean(seen, rc.secret, rotation.secret, posted.secret, stored.secret_hash, stored.previous_secret_hash)


async def test_overlap_zero_refuses_the_old_secret_at_once(hc: Harness) -> None:
    rc = await hc.client()
    rotation = await hc.c.clients.rotate_secret(rc.tenant.id, rc.client_id, overlap=0)
    assert rotation.previous_accepted_until is None
    assert (await token_with(hc, rc, rc.secret)).status_code == 401
    assert (await token_with(hc, rc, rotation.secret)).status_code == 200
    stored = await hc.c.clients.get(rc.tenant.id, rc.client_id)
    assert stored is not None and stored.previous_secret_hash == "" and stored.previous_secret_expires_at is None


async def test_a_second_rotation_during_the_overlap_drops_the_first_secret(hc: Harness, clock: FixedClock) -> None:
    rc = await hc.client()
    first = await hc.c.clients.rotate_secret(rc.tenant.id, rc.client_id, overlap=3600)
    clock.advance(60)
    second = await hc.c.clients.rotate_secret(rc.tenant.id, rc.client_id, overlap=3600)
    assert second.dropped_previous and second.previous_accepted_until == clock.now() + 3600
    assert (await token_with(hc, rc, rc.secret)).status_code == 401  # the original: dropped at once
    assert (await token_with(hc, rc, first.secret)).status_code == 200  # the one just replaced
    assert (await token_with(hc, rc, second.secret)).status_code == 200
    clock.advance(3600)
    assert (await token_with(hc, rc, first.secret)).status_code == 401
    third = await hc.c.clients.rotate_secret(rc.tenant.id, rc.client_id, overlap=10)
    assert not third.dropped_previous  # the previous secret's overlap had ended


async def test_refusals_change_nothing_and_emit_nothing(h: Harness) -> None:
    seen = recorder(h)
    rc = await h.client()
    tenant = rc.tenant
    public, _ = await h.c.clients.create(
        tenant,
        name="spa",
        grant_types=frozenset({GrantType.AUTHORIZATION_CODE}),
        scopes=frozenset({"openid"}),
        redirect_uris=(REDIRECT,),
        public=True,
    )
    with pytest.raises(InvalidClientSettings, match="public"):
        await h.c.clients.rotate_secret(tenant.id, public.client_id, overlap=60)
    with pytest.raises(NotFound, match="no client"):
        await h.c.clients.rotate_secret(tenant.id, "cl_nope", overlap=60)
    for bad in (-1, 30 * 86400 + 1):
        with pytest.raises(InvalidClientSettings, match="overlap"):
            await h.c.clients.rotate_secret(tenant.id, rc.client_id, overlap=bad)

    # Another process rotated between the read and the write: the compare-and-swap refuses.
    real_get = h.c.clients._repo.get

    async def stale_get(tenant_id: str, client_id: str) -> object:
        found = await real_get(tenant_id, client_id)
        await h.c.clients._repo.rotate_secret(
            tenant_id, client_id, expect_hash=rc.client.secret_hash, secret_hash="hs256v1$x$y",
            previous_hash="", previous_expires_at=None,
        )  # fmt: skip
        return found

    h.c.clients._repo.get = stale_get  # type: ignore[method-assign]
    try:
        with pytest.raises(Conflict, match="try again"):
            await h.c.clients.rotate_secret(tenant.id, rc.client_id, overlap=60)
    finally:
        del h.c.clients._repo.get
    assert of(seen, EventType.CLIENT_SECRET_ROTATED) == []
    stored = await h.c.clients.get(tenant.id, public.client_id)
    assert stored is not None and stored.secret_hash == "" and stored.previous_secret_hash == ""


async def test_cli_json_and_refusals(hc: Harness, clock: FixedClock, cli: Run, env: dict[str, str]) -> None:
    h = hc
    rc = await h.client()
    seen = recorder(h)
    proc = cli("client", "rotate-secret", rc.client_id, "--json")
    out = json.loads(proc.stdout)
    assert set(out) == {
        "client_id", "client_secret", "tenant", "overlap", "previous_secret_expires_at",
        "previous_secret_expires", "dropped_previous",
    }  # fmt: skip
    assert out["client_id"] == rc.client_id and out["tenant"] == h.settings.default_tenant
    assert out["overlap"] == 86400 and out["dropped_previous"] is False  # the setting's default
    assert isinstance(out["previous_secret_expires_at"], int) and out["previous_secret_expires"].endswith("Z")
    assert proc.stdout.count(out["client_secret"]) == 1 and out["client_secret"] not in proc.stderr
    assert rc.secret not in proc.stdout + proc.stderr
    assert (await token_with(h, rc, out["client_secret"])).status_code == 200
    assert (await token_with(h, rc, rc.secret)).status_code == 200  # within the day's overlap

    again = json.loads(cli("client", "rotate-secret", rc.client_id, "--json", "--overlap", "0").stdout)
    assert again["overlap"] == 0 and again["previous_secret_expires_at"] is None and again["dropped_previous"]
    clock.advance(h.settings.client_cache_ttl)  # another process's change reaches this one's cache
    assert (await token_with(h, rc, out["client_secret"])).status_code == 401
    assert (await token_with(h, rc, rc.secret)).status_code == 401
    assert (await token_with(h, rc, again["client_secret"])).status_code == 200

    with_setting = {**env, "LUKHAS_ID_CLIENT_SECRET_OVERLAP": "120"}
    third = json.loads(cli("client", "rotate-secret", rc.client_id, "--json", extra=with_setting).stdout)
    assert third["overlap"] == 120

    public = json.loads(
        cli(
            "client", "create", "--json", "--public", "--grant", "authorization_code", "--redirect-uri", REDIRECT
        ).stdout
    )
    assert "public" in cli("client", "rotate-secret", public["client_id"], ok=False).stderr
    assert "no client" in cli("client", "rotate-secret", "cl_nope", ok=False).stderr
    assert "no tenant" in cli("client", "rotate-secret", rc.client_id, "--tenant", "nowhere", ok=False).stderr
    usage = cli("client", "rotate-secret", rc.client_id, "--overlap", "-5", ok=False)
    assert usage.returncode == 2 and "Traceback" not in usage.stderr
    usage = cli("client", "rotate-secret", ok=False)
    assert usage.returncode == 2
    too_long = cli("client", "rotate-secret", rc.client_id, "--overlap", str(31 * 86400), ok=False)
    assert "overlap" in too_long.stderr

    assert of(seen, EventType.CLIENT_SECRET_ROTATED) == []  # another process's events reach its own sink
