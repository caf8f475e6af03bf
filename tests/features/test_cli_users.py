"""`lukhas-id user`: create, list, disable, enable, set-password, run as the real command (subprocess).

Every run also checks that no password ever reaches stdout or stderr.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Run, make_cli

PASSWORD = "correct horse battery staple"
OTHER = "a completely different passphrase"
SECRETS = (PASSWORD, OTHER, "qwerty123456", "Sh0rt-pw")


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    return make_cli(tmp_path / "var", never_printed=SECRETS)


def rows(out: str) -> dict[str, list[str]]:
    """`user list` output by username."""
    return {line.split("\t")[1]: line.split("\t") for line in out.splitlines()}


def test_create_with_password_stdin_prints_the_lid(cli) -> None:  # type: ignore[no-untyped-def]
    out = cli("user", "create", "Alice", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    lid = out.stdout.strip()
    assert lid.startswith("USR-") and len(lid) == 31
    listed = rows(cli("user", "list").stdout)
    assert listed["Alice"] == [lid, "Alice", "active", "unverified"]


def test_duplicate_username_ignoring_case_is_a_one_line_error(cli) -> None:  # type: ignore[no-untyped-def]
    cli("user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    err = cli("user", "create", "ALICE", "--password-stdin", ok=False, stdin=PASSWORD + "\n").stderr
    assert "already exists" in err
    # Other tenants have their own usernames.
    cli("tenant", "create", "acme")
    cli("user", "create", "alice", "--tenant", "acme", "--password-stdin", stdin=PASSWORD + "\n")
    assert list(rows(cli("user", "list", "--tenant", "acme").stdout)) == ["alice"]


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Sh0rt-pw", "at least 12 characters"),
        ("qwerty123456", "most common passwords"),
        ("bobby-tables-123", "username"),
        ("", "at least 12 characters"),
    ],
)
def test_weak_password_is_a_one_line_error_naming_the_rule(cli, password: str, rule: str) -> None:  # type: ignore[no-untyped-def]
    err = cli("user", "create", "bobby", "--password-stdin", ok=False, stdin=password + "\n").stderr
    assert rule in err
    assert cli("user", "list").stdout == ""


def test_bad_username_email_and_missing_input(cli) -> None:  # type: ignore[no-untyped-def]
    assert "username" in cli("user", "create", "bad name", "--password-stdin", ok=False, stdin=PASSWORD).stderr
    assert "@" in cli("user", "create", "bob", "--email", "bob", "--password-stdin", ok=False, stdin=PASSWORD).stderr
    assert "no password" in cli("user", "create", "bob", "--password-stdin", ok=False, stdin="").stderr
    assert "no tenant" in cli("user", "list", "--tenant", "nobody", ok=False).stderr


def test_prompted_password_is_asked_twice(cli) -> None:  # type: ignore[no-untyped-def]
    proc = cli("user", "create", "carol", stdin=f"{PASSWORD}\n{PASSWORD}\n")
    assert proc.stdout.strip().startswith("USR-")  # prompts go to stderr: stdout is only the ΛID
    assert "Repeat for confirmation" in proc.stderr
    # A mismatch asks again; running out of input is an error.
    err = cli("user", "create", "dave", ok=False, stdin=f"{PASSWORD}\n{OTHER}\n").stderr
    assert "no password given" in err
    assert list(rows(cli("user", "list").stdout)) == ["carol"]


def test_list_hides_emails_unless_asked(cli) -> None:  # type: ignore[no-untyped-def]
    cli("user", "create", "alice", "--email", "alice@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    cli("user", "create", "bob", "--display-name", "Bob B.", "--password-stdin", stdin=PASSWORD + "\n")
    plain = cli("user", "list").stdout
    assert "alice@example.com" not in plain
    assert [r[1:] for r in rows(plain).values()] == [["alice", "active", "unverified"], ["bob", "active", "-"]]
    shown = rows(cli("user", "list", "--show-email").stdout)
    assert shown["alice"][4] == "alice@example.com"
    assert shown["bob"][4] == "-"


def test_disable_and_enable(cli) -> None:  # type: ignore[no-untyped-def]
    cli("user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert "disabled" in cli("user", "disable", "ALICE").stdout
    assert rows(cli("user", "list").stdout)["alice"][2] == "disabled"
    assert "enabled" in cli("user", "enable", "alice").stdout
    assert rows(cli("user", "list").stdout)["alice"][2] == "active"
    assert "no user" in cli("user", "disable", "nobody", ok=False).stderr


def test_set_password(cli) -> None:  # type: ignore[no-untyped-def]
    cli("user", "create", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert "changed" in cli("user", "set-password", "alice", "--password-stdin", stdin=OTHER + "\r\n").stdout
    err = cli("user", "set-password", "alice", "--password-stdin", ok=False, stdin="qwerty123456\n").stderr
    assert "most common passwords" in err
    assert "no user" in cli("user", "set-password", "nobody", "--password-stdin", ok=False, stdin=OTHER).stderr
    assert "changed" in cli("user", "set-password", "alice", stdin=f"{PASSWORD}\n{PASSWORD}\n").stdout
