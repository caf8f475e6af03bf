"""`lukhas-id user`: create, list, disable, enable, set-password, recovery-code, sessions, sign-out, delete.

Passwords are read with hidden input (typed twice) or, with --password-stdin, as one line of standard
input; they are never echoed, printed or logged. `user list` shows e-mail addresses (personal data)
only with --show-email. Sessions are shown by their public `sid`, never by the session id (the cookie).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from lukhas_id.bootstrap import Container
from lukhas_id.cli.common import TenantOpt, fail, find_tenant, run
from lukhas_id.domain.session import Session
from lukhas_id.domain.user import User, check_username
from lukhas_id.services.user_admin import DeletedUser

user_app = typer.Typer(help="Users: the people who sign in (USR principals).", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
YesOpt = Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")]

PasswordStdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from the first line of standard input."),
]


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            fail("no password on standard input")
        return line.removesuffix("\n").removesuffix("\r")
    try:
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    except typer.Abort:  # end of input (or Ctrl-C) at the prompt
        fail("no password given")
    return password


@user_app.command("create")
def user_create(
    username: Annotated[str, typer.Argument(help="Letters, digits and . _ - @ (1-64); unique ignoring case.")],
    tenant: TenantOpt = None,
    email: Annotated[str | None, typer.Option("--email", help="E-mail address (stored as not verified).")] = None,
    display_name: Annotated[
        str | None, typer.Option("--display-name", help="Name to show (default: the username).")
    ] = None,
    password_stdin: PasswordStdinOpt = False,
) -> None:
    """Create a user with a password; prints the user's ΛID."""
    check_username(username)  # before asking for a password
    password = _read_password(password_stdin)

    async def body(c: Container) -> User:
        t = await find_tenant(c, tenant)
        return await c.users.create(t, username, email=email, display_name=display_name, password=password)

    typer.echo(run(body).lid)


@user_app.command("list")
def user_list(
    tenant: TenantOpt = None,
    show_email: Annotated[bool, typer.Option("--show-email", help="Also print e-mail addresses.")] = False,
) -> None:
    """ΛID, username, status and e-mail state (verified, unverified, or - for none) of each user."""

    async def body(c: Container) -> list[User]:
        return await c.users.list(await find_tenant(c, tenant))

    for user in run(body):
        state = "-" if user.email is None else "verified" if user.email_verified else "unverified"
        columns = [user.lid, user.username, user.status.value, state]
        if show_email:
            columns.append(user.email or "-")
        typer.echo("\t".join(columns))


@user_app.command("disable")
def user_disable(username: str, tenant: TenantOpt = None) -> None:
    """A disabled user cannot sign in; their sessions end and their tokens stop working."""

    async def body(c: Container) -> tuple[User, int]:
        return await c.user_admin.disable(await find_tenant(c, tenant), username)

    user, ended = run(body)
    typer.echo(f"user {user.username} disabled ({ended} session(s) ended, tokens revoked)")


@user_app.command("enable")
def user_enable(username: str, tenant: TenantOpt = None) -> None:
    async def body(c: Container) -> User:
        return await c.users.enable(await find_tenant(c, tenant), username)

    typer.echo(f"user {run(body).username} enabled")


@user_app.command("set-password")
def user_set_password(username: str, tenant: TenantOpt = None, password_stdin: PasswordStdinOpt = False) -> None:
    """Replace the user's password (the password policy applies)."""
    password = _read_password(password_stdin)

    async def body(c: Container) -> User:
        return await c.users.set_password(await find_tenant(c, tenant), username, password)

    typer.echo(f"password of user {run(body).username} changed")


@user_app.command("recovery-code")
def user_recovery_code(
    username: str,
    tenant: TenantOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue an account recovery code for a user who lost every sign-in factor; give it to them out of band.

    Valid 10 minutes, single use; it only lets the user enrol a new passkey. Issuing a new code cancels
    the previous one. The code is printed once here and stored only as a keyed hash."""

    async def body(c: Container) -> tuple[str, str, float]:
        t = await find_tenant(c, tenant)
        user = await c.users.get(t, username)
        if user is None:
            fail("no user with this username in the tenant")
        code = await c.account_recovery.issue(t, user)
        return user.username, code, c.clock.now() + c.account_recovery.ttl

    name, code, expires_at = run(body)
    expires = datetime.fromtimestamp(expires_at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if as_json:
        typer.echo(json.dumps({"username": name, "code": code, "expires_at": int(expires_at), "expires": expires}))
        return
    typer.echo(f"account recovery code for {name}: {code}")
    typer.echo(f"expires {expires} (single use; shown once: give it to the user out of band now)")


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _session_json(s: Session) -> dict[str, object]:
    return {
        "sid": s.sid,
        "created": _iso(s.created_at),
        "last_seen": _iso(s.last_seen),
        "auth_time": int(s.auth_time),
        "expires": _iso(s.expires_at),
        "acr": s.acr,
        "amr": list(s.amr),
    }


@user_app.command("sessions")
def user_sessions(username: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """The user's live browser sessions, oldest first: public sid, created, last seen, acr, amr."""

    async def body(c: Container) -> tuple[User, list[Session]]:
        return await c.user_admin.sessions(await find_tenant(c, tenant), username)

    user, sessions = run(body)
    if as_json:
        out = {"username": user.username, "lid": user.lid, "sessions": [_session_json(s) for s in sessions]}
        typer.echo(json.dumps(out))
        return
    for s in sessions:
        typer.echo("\t".join([s.sid, _iso(s.created_at), _iso(s.last_seen), s.acr, " ".join(s.amr)]))
    if not sessions:
        typer.echo(f"user {user.username} has no live sessions", err=True)


@user_app.command("sign-out")
def user_sign_out(username: str, tenant: TenantOpt = None, as_json: JsonOpt = False) -> None:
    """End every session of the user (and revoke the refresh tokens issued in them)."""

    async def body(c: Container) -> tuple[User, int]:
        return await c.user_admin.sign_out(await find_tenant(c, tenant), username)

    user, ended = run(body)
    if as_json:
        typer.echo(json.dumps({"username": user.username, "lid": user.lid, "sessions_ended": ended}))
        return
    typer.echo(f"user {user.username} signed out: {ended} session(s) ended")


@user_app.command("delete")
def user_delete(username: str, tenant: TenantOpt = None, yes: YesOpt = False, as_json: JsonOpt = False) -> None:
    """Delete the user for good: sessions, refresh and access tokens, passkeys, authenticator app, recovery
    codes, consents. The ΛID is never given to anyone else. Needs --yes."""
    if not yes:
        fail(f"deleting user {username} cannot be undone: add --yes to delete it")

    async def body(c: Container) -> DeletedUser:
        return await c.user_admin.delete(await find_tenant(c, tenant), username)

    gone = run(body)
    if as_json:
        out = {
            "username": gone.username,
            "lid": gone.lid,
            "deleted": True,
            "sessions_ended": gone.sessions,
            "refresh_families_revoked": gone.refresh_families,
            "tokens_issued_before": gone.tokens_before,
        }
        typer.echo(json.dumps(out))
        return
    typer.echo(
        f"user {gone.username} ({gone.lid}) deleted: {gone.sessions} session(s) ended, "
        f"{gone.refresh_families} refresh token famil{'y' if gone.refresh_families == 1 else 'ies'} revoked, "
        "access tokens issued until now inactive"
    )
