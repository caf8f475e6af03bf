"""`lukhas-id user sessions|sign-out|delete`, run as the real command against the deployment a server is using
(embedded SQLite, and PostgreSQL + Redis): the command sees and ends the sessions the server made.

A session is shown by its public `sid`, never by its id (the cookie value); nothing secret is printed.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

from lukhas_id.domain.events import EventType
from lukhas_id.domain.session import Session
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.protocol.oauth2.request import OAuthRequest
from tests.support.cli import Run, make_cli
from tests.support.events import assert_clean, of, recorder
from tests.support.harness import Harness
from tests.support.rp import RP, mint, pkce_pair, redeem, rp

PASSWORD = "correct horse battery staple"
ACR = "urn:lukhas:acr:password"


@pytest.fixture
def cli(backend: dict[str, object], tmp_path: Path) -> Run:
    """The command, on the same database (and Redis) as the harness's server."""
    env = {f"LUKHAS_ID_{name.upper()}": str(value) for name, value in backend.items() if name != "var_dir"}
    return functools.partial(make_cli(tmp_path), extra=env)


async def user_with_sessions(h: Harness, n: int, tenant_name: str | None = None) -> tuple[Tenant, User, list[Session]]:
    tenant = await h.tenant(tenant_name)
    user = await h.c.users.create(tenant, "Alice", email="alice@example.com", password=PASSWORD)
    sessions = [await h.c.sessions.create(tenant, user, ["pwd"], ACR) for _ in range(n)]
    return tenant, user, sessions


async def tokens_in(h: Harness, party: RP, user: User, session: Session) -> tuple[str, str]:
    """(access token, refresh token) issued to the user in the session."""
    verifier, challenge = pkce_pair()
    code, _ = await mint(h, party, challenge, user_lid=user.lid, sid=session.sid, scope=("openid", "offline_access"))
    status, body = await redeem(h, party, code, verifier)
    assert status == 200, body
    return str(body["access_token"]), str(body["refresh_token"])


async def active(h: Harness, party: RP, token: str) -> bool:
    info = await h.c.tokens.introspect(party.tenant, party.client, OAuthRequest({"token": [token]}, None))
    return bool(info["active"])


async def refreshes(h: Harness, party: RP, token: str) -> bool:
    assert party.secret is not None
    form = {"grant_type": "refresh_token", "refresh_token": token}
    resp = await h.http.post("/oauth2/token", data=form, auth=(party.client.client_id, party.secret))
    return resp.status_code == 200


def assert_private(proc: object, *values: str) -> None:
    for value in values:
        assert value not in proc.stdout and value not in proc.stderr  # type: ignore[attr-defined]


async def test_sessions_lists_sids_never_session_ids(h: Harness, cli: Run) -> None:
    _, user, sessions = await user_with_sessions(h, 2)
    proc = cli("user", "sessions", "ALICE")
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    assert [r[0] for r in rows] == [s.sid for s in sessions]
    assert all(r[3] == ACR and r[4] == "pwd" for r in rows)
    assert all(r[1].endswith("Z") and r[2].endswith("Z") for r in rows)
    assert_private(proc, PASSWORD, "alice@example.com", *(s.id for s in sessions))

    proc = cli("user", "sessions", "alice", "--json")
    out = json.loads(proc.stdout)
    assert out["username"] == "Alice" and out["lid"] == user.lid
    assert [s["sid"] for s in out["sessions"]] == [s.sid for s in sessions]
    first = out["sessions"][0]
    assert set(first) == {"sid", "created", "last_seen", "auth_time", "expires", "acr", "amr"}
    assert first["acr"] == ACR and first["amr"] == ["pwd"]
    assert_private(proc, *(s.id for s in sessions))


async def test_sign_out_ends_every_session_and_its_refresh_tokens(h: Harness, cli: Run) -> None:
    tenant, user, sessions = await user_with_sessions(h, 2)
    party = await rp(h)
    _, token = await tokens_in(h, party, user, sessions[0])
    other = await h.c.users.create(tenant, "bob", password=PASSWORD)
    bobs = await h.c.sessions.create(tenant, other, ["pwd"], ACR)

    proc = cli("user", "sign-out", "alice", "--json")
    assert json.loads(proc.stdout) == {"username": "Alice", "lid": user.lid, "sessions_ended": 2}
    for s in sessions:
        assert await h.c.sessions.get(tenant, s.id) is None
    assert not await refreshes(h, party, token)
    assert await h.c.sessions.get(tenant, bobs.id) is not None  # another user's session is untouched

    assert cli("user", "sessions", "alice").stdout == ""
    assert "no live sessions" in cli("user", "sessions", "alice").stderr
    assert cli("user", "sign-out", "alice").stdout.strip() == "user Alice signed out: 0 session(s) ended"


async def test_sign_out_emits_session_ended(h: Harness) -> None:
    """The service emits the event (the CLI writes no identity log line of its own)."""
    seen = recorder(h)
    tenant, user, sessions = await user_with_sessions(h, 2)
    _, ended = await h.c.user_admin.sign_out(tenant, "alice")
    assert ended == 2
    [event] = of(seen, EventType.SESSION_ENDED)
    assert event.principal == user.lid and dict(event.metadata) == {"reason": "everywhere", "count": "2"}
    assert_clean(seen, "Alice", PASSWORD, "alice@example.com", *(s.id for s in sessions))


async def test_unknown_user_or_tenant_is_one_line(h: Harness, cli: Run) -> None:
    await h.tenant()
    assert "no user" in cli("user", "sessions", "nobody", ok=False).stderr
    assert "no user" in cli("user", "sign-out", "nobody", ok=False).stderr
    assert "no tenant" in cli("user", "sign-out", "alice", "--tenant", "nowhere", ok=False).stderr


async def test_tenants_are_apart(h: Harness, cli: Run) -> None:
    _, _, acme_sessions = await user_with_sessions(h, 1, "acme")
    await h.tenant()
    assert "no user" in cli("user", "sign-out", "alice", ok=False).stderr
    out = json.loads(cli("user", "sessions", "alice", "--tenant", "acme", "--json").stdout)
    assert [s["sid"] for s in out["sessions"]] == [acme_sessions[0].sid]
    cli("user", "sign-out", "alice", "--tenant", "acme")
    assert json.loads(cli("user", "sessions", "alice", "--tenant", "acme", "--json").stdout)["sessions"] == []


async def test_delete_needs_yes(h: Harness, cli: Run) -> None:
    tenant, user, sessions = await user_with_sessions(h, 1)
    err = cli("user", "delete", "alice", ok=False).stderr
    assert "add --yes" in err
    assert await h.c.users.by_lid(tenant, user.lid) is not None
    assert await h.c.sessions.get(tenant, sessions[0].id) is not None


async def test_delete_ends_everything_and_the_lid_is_never_reused(h: Harness, cli: Run) -> None:
    tenant, user, sessions = await user_with_sessions(h, 2)
    party = await rp(h)
    access, refresh = await tokens_in(h, party, user, sessions[0])
    codes = await h.c.recovery_codes.generate(tenant, user.lid)
    await h.c.logout._consents.grant(tenant.id, user.lid, party.client.client_id, frozenset({"openid"}), 1.0)
    bob = await h.c.users.create(tenant, "bob", password=PASSWORD)
    bobs = await h.c.sessions.create(tenant, bob, ["pwd"], ACR)
    bob_access, _ = await tokens_in(h, party, bob, bobs)

    proc = cli("user", "delete", "alice", "--yes", "--json")
    out = json.loads(proc.stdout)
    assert out["username"] == "Alice" and out["lid"] == user.lid and out["deleted"] is True
    assert out["sessions_ended"] == 2 and out["refresh_families_revoked"] == 1
    assert_private(proc, PASSWORD, "alice@example.com", access, refresh, *codes, *(s.id for s in sessions))

    assert await h.c.users.by_lid(tenant, user.lid) is None
    for s in sessions:
        assert await h.c.sessions.get(tenant, s.id) is None
    assert not await active(h, party, access)
    assert not await refreshes(h, party, refresh)
    assert await h.c.recovery_codes.remaining(tenant, user.lid) == 0
    assert await h.c.logout.consents(tenant, user.lid) == []
    # Bob is untouched.
    assert await h.c.sessions.get(tenant, bobs.id) is not None and await active(h, party, bob_access)

    assert "no user" in cli("user", "delete", "alice", "--yes", ok=False).stderr
    assert "no user" in cli("user", "sessions", "alice", ok=False).stderr
    # The username may be taken again, by a new principal with a new ΛID.
    again = await h.c.users.create(tenant, "alice", password=PASSWORD)
    assert again.lid != user.lid
    text = cli("user", "delete", "alice", "--yes").stdout
    assert text.startswith(f"user alice ({again.lid}) deleted: 0 session(s) ended")


async def test_delete_emits_user_deleted_after_the_sessions_ended(h: Harness) -> None:
    seen = recorder(h)
    tenant, user, sessions = await user_with_sessions(h, 1)
    await h.c.user_admin.delete(tenant, "alice")
    kinds = [e.type for e in seen if e.principal == user.lid]
    assert kinds == [
        EventType.USER_CREATED,
        EventType.SESSION_ENDED,
        EventType.TOKENS_MASS_REVOKED,  # the tokens issued until then, before the deletion
        EventType.USER_DELETED,
    ]
    [deleted] = of(seen, EventType.USER_DELETED)
    assert dict(deleted.metadata) == {"sessions": "1", "refresh_families": "0"}
    assert_clean(seen, "Alice", PASSWORD, "alice@example.com", sessions[0].id)


async def test_a_failed_deletion_leaves_the_user_and_can_be_run_again(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQL deletion and its event commit together: when the unit fails, the user and its factors stay
    (signed out), no user.deleted is published, and the deletion can be repeated."""
    seen = recorder(h)
    tenant, user, _ = await user_with_sessions(h, 1)
    await h.c.recovery_codes.generate(tenant, user.lid)
    repo = h.c.user_admin._repo
    real = repo.delete

    async def delete_then_fail(tenant_id: str, lid: str) -> bool:
        assert await real(tenant_id, lid)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(repo, "delete", delete_then_fail)
    with pytest.raises(RuntimeError):
        await h.c.user_admin.delete(tenant, "alice")
    assert await h.c.users.by_lid(tenant, user.lid) is not None
    assert await h.c.recovery_codes.remaining(tenant, user.lid) == 10
    assert of(seen, EventType.USER_DELETED) == []
    monkeypatch.setattr(repo, "delete", real)
    await h.c.user_admin.delete(tenant, "alice")
    assert await h.c.users.by_lid(tenant, user.lid) is None
    assert len(of(seen, EventType.USER_DELETED)) == 1


async def test_disable_ends_sessions_and_every_token(h: Harness, cli: Run) -> None:
    """A disabled user's refresh and access tokens stop working at once (they went on working before),
    their sessions end, and nothing of another user's is touched."""
    tenant, user, sessions = await user_with_sessions(h, 1)
    party = await rp(h)
    access, refresh = await tokens_in(h, party, user, sessions[0])
    other = await h.c.users.create(tenant, "bob", password=PASSWORD)
    bobs = await h.c.sessions.create(tenant, other, ["pwd"], ACR)
    _, bobs_refresh = await tokens_in(h, party, other, bobs)

    proc = cli("user", "disable", "alice")
    assert proc.stdout.strip() == "user Alice disabled (1 session(s) ended, tokens revoked)"
    assert await h.c.sessions.get(tenant, sessions[0].id) is None
    assert not await refreshes(h, party, refresh)
    assert not await active(h, party, access)
    assert await refreshes(h, party, bobs_refresh)


async def test_a_code_of_a_user_disabled_since_it_was_issued_is_refused(h: Harness) -> None:
    """A code lives a minute; redeeming it after its user was disabled (or deleted) issues nothing."""
    tenant, user, sessions = await user_with_sessions(h, 1)
    party = await rp(h)
    verifier, challenge = pkce_pair()
    code, _ = await mint(h, party, challenge, user_lid=user.lid, sid=sessions[0].sid, scope=("openid",))
    await h.c.users.disable(tenant, "alice")
    status, body = await redeem(h, party, code, verifier)
    assert status == 400 and body["error"] == "invalid_grant", body


async def test_signing_out_a_user_without_sessions_emits_nothing(h: Harness) -> None:
    seen = recorder(h)
    tenant, user, _ = await user_with_sessions(h, 0)
    assert await h.c.logout.end_everywhere(tenant, user.lid) == []
    assert of(seen, EventType.SESSION_ENDED) == []
