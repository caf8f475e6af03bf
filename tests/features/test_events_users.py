"""Identity events of users, tenants and signing keys (domain/events.py), on both deployments: each change
emits exactly its event after the commit, a change rolled back emits nothing, and no event carries a
username, an address or a password."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lukhas_id.cli.main import app as cli_app
from lukhas_id.clock import FixedClock
from lukhas_id.domain.events import EventType
from lukhas_id.domain.keys import KeyState, SigningAlg
from lukhas_id.domain.user import UsernameTaken
from lukhas_id.settings import Settings
from lukhas_id.web.app import maintenance_pass
from tests.support.events import assert_clean, of, recorder
from tests.support.harness import Harness, running


class Boom(Exception):
    pass


async def test_each_change_of_a_user_emits_its_event(h: Harness) -> None:
    tenant = await h.tenant()
    seen = recorder(h)
    username, email, password = "grace-events", "grace@example.org", secrets.token_urlsafe(18)
    user = await h.c.users.create(tenant, username, email=email, password=password, display_name="Grace")
    new_password = secrets.token_urlsafe(18)
    await h.c.users.set_password(tenant, username, new_password)
    await h.c.users.change_email(tenant, user.lid, "grace@example.net")
    await h.c.users.change_email(tenant, user.lid, "")
    await h.c.users.disable(tenant, username)
    await h.c.users.disable(tenant, username)  # already disabled: nothing changes, no event
    await h.c.users.enable(tenant, username)
    assert [e.type for e in seen] == [
        EventType.USER_CREATED,
        EventType.USER_PASSWORD_CHANGED,
        EventType.USER_EMAIL_CHANGED,
        EventType.USER_EMAIL_CHANGED,
        EventType.USER_DISABLED,
        EventType.USER_ENABLED,
    ]
    assert all(e.tenant_id == tenant.id and e.principal == user.lid for e in seen)
    assert [dict(e.metadata) for e in seen] == [{}, {}, {"change": "set"}, {"change": "removed"}, {}, {}]
    assert_clean(seen, username, email, "grace@example.net", password, new_password, "Grace")


async def test_a_user_creation_rolled_back_leaves_neither_the_user_nor_its_event(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await h.tenant()
    seen = recorder(h)
    real_create = h.c.users._repo.create

    async def write_then_fail(user: object, principal: object) -> None:
        await real_create(user, principal)  # type: ignore[arg-type]
        assert await h.c.users.get(tenant, "linus") is not None  # written, inside the unit
        assert seen == []  # and not yet published
        raise Boom

    monkeypatch.setattr(h.c.users._repo, "create", write_then_fail)
    with pytest.raises(Boom):
        await h.c.users.create(tenant, "linus")
    monkeypatch.undo()
    assert await h.c.users.get(tenant, "linus") is None
    assert seen == []
    # A conflict (the username is taken) rolls back the same way: one user, one event.
    first = await h.c.users.create(tenant, "linus")
    with pytest.raises(UsernameTaken):
        await h.c.users.create(tenant, "LINUS")
    assert [(e.type, e.principal) for e in seen] == [(EventType.USER_CREATED, first.lid)]


async def test_a_failed_password_change_emits_nothing(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = await h.tenant()
    password = secrets.token_urlsafe(18)
    user = await h.c.users.create(tenant, "ada-pw", password=password)
    seen = recorder(h)
    real = h.c.users._repo.set_password_hash

    async def write_then_fail(*args: object, **kwargs: object) -> bool:
        await real(*args, **kwargs)  # type: ignore[arg-type]
        raise Boom

    monkeypatch.setattr(h.c.users._repo, "set_password_hash", write_then_fail)
    with pytest.raises(Boom):
        await h.c.users.set_password(tenant, "ada-pw", secrets.token_urlsafe(18))
    monkeypatch.undo()
    assert seen == []
    assert await h.c.users.authenticate(tenant, "ada-pw", password) is not None  # the old password stands
    assert user.lid


async def test_a_tenant_its_keys_and_its_event_are_one_unit(h: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = recorder(h)
    tenant = await h.c.tenants.create("events-acme", SigningAlg.ES256)
    assert [(e.type, e.tenant_id, e.principal) for e in seen] == [(EventType.TENANT_CREATED, tenant.id, None)]
    assert dict(seen[0].metadata) == {"tenant_name": "events-acme", "alg": "ES256"}
    assert {k.state for k in (await h.c.keys.load(tenant.id)).keys} == {KeyState.ACTIVE, KeyState.NEXT}

    async def no_keys(tenant_id: str, alg: SigningAlg) -> bool:
        raise Boom

    monkeypatch.setattr(h.c.keys, "ensure", no_keys)
    with pytest.raises(Boom):
        await h.c.tenants.create("events-beta", SigningAlg.ES256)
    assert await h.c.tenants.by_name("events-beta") is None  # the tenant row went with its keys
    assert len(seen) == 1
    assert_clean(seen)


async def test_a_key_rotation_emits_its_event_and_the_log_line(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lukhas_id.events")
    tenant = await h.tenant()
    seen = recorder(h)
    result = await h.c.keys.rotate(tenant.id, SigningAlg(tenant.access_token_alg))
    assert result.rotated and result.active_kid
    assert [(e.type, e.tenant_id, e.principal) for e in seen] == [(EventType.SIGNING_KEY_ROTATED, tenant.id, None)]
    assert dict(seen[0].metadata) == {"alg": tenant.access_token_alg, "kid": result.active_kid}
    lines = [r for r in caplog.records if r.name == "lukhas_id.events" and r.getMessage() == "signing key rotated"]
    assert len(lines) == 1 and lines[0].fields["kid"] == result.active_kid  # type: ignore[attr-defined]
    assert_clean(seen)


async def test_maintenance_rotation_is_logged_once_by_the_subscriber(
    prepared: Settings, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The maintenance pass writes no line of its own: the event's subscriber writes the one line."""
    caplog.set_level(logging.INFO, logger="lukhas_id")
    settings = prepared.model_copy(update={"key_rotation_interval": 3600})
    async with running(settings, clock) as h:
        tenant = await h.tenant()
        seen = recorder(h)
        clock.advance(3601)
        await maintenance_pass(h.c)
        rotated = of(seen, EventType.SIGNING_KEY_ROTATED)
        active = {k.kid for k in (await h.c.keys.load(tenant.id)).keys if k.state is KeyState.ACTIVE}
    assert len(rotated) == 1 and rotated[0].metadata["kid"] in active
    lines = [r for r in caplog.records if "rotated" in r.getMessage()]
    assert [(r.name, r.getMessage()) for r in lines] == [("lukhas_id.events", "signing key rotated")]


def test_the_cli_user_commands_emit_their_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """`lukhas-id user create` and `user disable` go through the user service: their events are written
    by the log subscriber (run in this process, embedded deployment)."""
    import os

    for name in [k for k in os.environ if k.startswith("LUKHAS_ID_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LUKHAS_ID_VAR_DIR", str(tmp_path / "var"))
    caplog.set_level(logging.INFO, logger="lukhas_id.events")
    password = secrets.token_urlsafe(18)
    runner = CliRunner()
    created = runner.invoke(
        cli_app,
        ["user", "create", "cli-ada", "--email", "ada@example.com", "--password-stdin"],
        input=password + "\n",
    )
    assert created.exit_code == 0, created.output
    lid = created.stdout.strip()
    disabled = runner.invoke(cli_app, ["user", "disable", "cli-ada"])
    assert disabled.exit_code == 0, disabled.output
    records = [r for r in caplog.records if r.name == "lukhas_id.events"]
    users = [(r.getMessage(), r.fields["principal"]) for r in records if r.event.startswith("user.")]  # type: ignore[attr-defined]
    assert users == [("user created", lid), ("user disabled", lid)]
    logged = "".join(repr(vars(r)) for r in records)
    assert "cli-ada" not in logged and "ada@example.com" not in logged and password not in logged
