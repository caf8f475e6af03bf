"""Identity events (domain/events.py) from the services, through the unit of work, on both deployments."""

from __future__ import annotations

import logging
import secrets

import pytest

from lukhas_id.domain.client import ClientStatus, GrantType
from lukhas_id.domain.events import EventType
from lukhas_id.errors import AlreadyExists
from tests.support.events import recorder
from tests.support.harness import Harness
from tests.support.rp import hidden


async def test_client_lifecycle_events_follow_committed_changes(h: Harness) -> None:
    seen = recorder(h)
    rc = await h.client()
    await h.c.clients.set_status(rc.tenant.id, rc.client_id, ClientStatus.DISABLED)
    assert await h.c.clients.delete(rc.tenant.id, rc.client_id)
    assert not await h.c.clients.delete(rc.tenant.id, rc.client_id)  # nothing changed: no event
    assert [e.type for e in seen] == [
        EventType.CLIENT_CREATED,
        EventType.CLIENT_STATUS_CHANGED,
        EventType.CLIENT_DELETED,
    ]
    assert {e.principal for e in seen} == {rc.client.principal_lid}
    assert all(e.tenant_id == rc.tenant.id and e.metadata["client_id"] == rc.client_id for e in seen)
    assert seen[1].metadata["status"] == "disabled"


async def test_a_change_that_fails_emits_nothing(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unit of work covers the change and its event: an attempt rolled back leaves no event."""
    seen = recorder(h)
    tenant = await h.tenant()
    attempts = 0
    real_create = h.c.clients._repo.create

    async def collide_once(client: object, principal: object) -> None:
        nonlocal attempts
        attempts += 1
        await real_create(client, principal)  # type: ignore[arg-type]
        if attempts == 1:
            raise AlreadyExists("simulated collision after the write")

    monkeypatch.setattr(h.c.clients._repo, "create", collide_once)
    client, _ = await h.c.clients.create(
        tenant, name="svc", grant_types=frozenset({GrantType.CLIENT_CREDENTIALS}), scopes=frozenset()
    )
    assert attempts == 2
    assert [e.metadata["client_id"] for e in seen] == [client.client_id]
    listed = {c.client_id for c in await h.c.clients.list(tenant.id)}
    assert listed == {client.client_id}  # the first attempt's write was rolled back with it


async def test_revocation_emits_an_event_without_the_token(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    seen = recorder(h)
    rc = await h.client()
    token = await h.access_token(rc)
    assert (await h.revoke(rc, token)).status_code == 200
    revoked = [e for e in seen if e.type is EventType.TOKEN_REVOKED]
    assert len(revoked) == 1 and revoked[0].principal == rc.client.principal_lid
    assert revoked[0].metadata["client_id"] == rc.client_id and revoked[0].metadata["jti"]
    assert token not in repr(revoked[0])
    # The log subscriber writes the line the service used to write.
    lines = [r for r in caplog.records if r.name == "lukhas_id.events" and r.getMessage() == "token revoked"]
    assert len(lines) == 1 and token not in repr(vars(lines[0]))


async def test_a_password_sign_in_over_http_emits_its_events(h: Harness) -> None:
    """Wired in the composition root: the sign-in service's record is an event, on both deployments."""
    tenant = await h.tenant()
    password = secrets.token_urlsafe(18)
    user = await h.c.users.create(tenant, "ada-events", password=password, display_name="Ada")
    seen = recorder(h)
    page = await h.http.get("/login")
    form = {"username": "ada-events", "csrf_token": hidden(page.text, "csrf_token")}
    wrong = await h.http.post("/login", data={**form, "password": "not it"})
    assert wrong.status_code == 200
    signed = await h.http.post("/login", data={**form, "password": password})
    assert signed.status_code == 303, signed.text
    kinds = [e.type for e in seen]
    assert kinds == [EventType.SIGN_IN_REFUSED, EventType.USER_SIGNED_IN]
    assert seen[1].principal == user.lid and seen[1].metadata["amr"] == "pwd"
    assert all("ada-events" not in repr(e) and password not in repr(e) for e in seen)
