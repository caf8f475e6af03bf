"""The `lukhas-id` command: one-line errors, secrets shown once, keys, rewrap, revoke, config."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from lukhas_id.adapters.crypto.kek import new_kek_b64
from tests.support.cli import Run, make_cli


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    return make_cli(tmp_path / "var")


def test_client_create_json_and_list(cli) -> None:  # type: ignore[no-untyped-def]
    out = json.loads(cli("client", "create", "--scope", "a b", "--principal-type", "AGT", "--json").stdout)
    assert {"client_id", "client_secret", "issuer", "lid"} <= set(out)
    assert out["issuer"] == "http://127.0.0.1:8000"
    assert out["lid"].startswith("AGT-")
    listed = cli("client", "list").stdout
    assert out["client_id"] in listed
    assert out["client_secret"] not in listed
    human = cli("client", "create", "--scope", "a").stdout
    assert "client_secret:" in human and "shown once" in human


def test_client_create_rejects_bad_input(cli) -> None:  # type: ignore[no-untyped-def]
    assert "SVC, AGT or SYS" in cli("client", "create", "--principal-type", "USR", ok=False).stderr
    assert "absolute URI" in cli("client", "create", "--resource", "not a uri", ok=False).stderr
    assert "scope" in cli("client", "create", "--scope", 'bad"scope', ok=False).stderr
    cli("client", "create", "--tenant", "nobody", ok=False)
    cli("client", "create", "--token-format", "weird", ok=False)


def test_client_create_refuses_a_wildcard_redirect_uri(cli) -> None:  # type: ignore[no-untyped-def]
    args = ("client", "create", "--grant", "authorization_code", "--scope", "openid")
    err = cli(*args, "--redirect-uri", "https://*.rp.example.com/cb", ok=False).stderr.strip().splitlines()[-1]
    assert err.startswith("error: redirect URI: ") and "must not contain a wildcard" in err
    err = cli(
        *args,
        "--redirect-uri",
        "https://rp.example.com/cb",
        "--post-logout-redirect-uri",
        "https://*.rp.example.com/bye",
        ok=False,
    ).stderr.strip()
    assert err.splitlines()[-1].startswith("error: post-logout redirect URI: ") and "wildcard" in err
    assert cli("client", "list").stdout.strip() == ""


def test_tenants(cli) -> None:  # type: ignore[no-untyped-def]
    assert "http://127.0.0.1:8000/t/acme" in cli("tenant", "create", "acme", "--alg", "EdDSA").stdout
    assert "already exists" in cli("tenant", "create", "acme", ok=False).stderr.lower()
    cli("tenant", "create", "Bad Name", ok=False)
    assert "acme" in cli("tenant", "list").stdout
    keys = cli("keys", "list", "--tenant", "acme").stdout.splitlines()
    assert sorted(line.split("\t")[2] for line in keys) == ["active", "next"]
    assert all(line.split("\t")[1] == "EdDSA" for line in keys)


def test_keys_rotate(cli) -> None:  # type: ignore[no-untyped-def]
    before = dict(line.split("\t")[0::2] for line in cli("keys", "list").stdout.splitlines())
    cli("keys", "rotate")
    after = dict(line.split("\t")[0::2] for line in cli("keys", "list").stdout.splitlines())
    promoted = next(k for k, s in before.items() if s == "next")
    retired = next(k for k, s in before.items() if s == "active")
    assert after[promoted] == "active"
    assert after[retired] == "retired"
    assert sorted(after.values()) == ["active", "next", "retired"]


def test_keys_rewrap(cli) -> None:  # type: ignore[no-untyped-def]
    cli("keys", "list")  # creates the tenant, keys and the generated KEK file
    new = new_kek_b64()
    out = cli("keys", "rewrap", "--new-kek", "-", stdin=new).stdout
    assert "re-encrypted" in out
    assert new not in out
    # Under the new KEK everything decrypts; the old (generated file) KEK no longer does.
    assert "active" in cli("keys", "list", extra={"LUKHAS_ID_KEK": new}).stdout
    err = cli("client", "create", "--json", ok=False).stderr
    assert "LUKHAS_ID_KEK" in err and "another KEK" in err
    assert new not in err
    cli("keys", "rewrap", ok=False)
    cli("keys", "rewrap", "--new-kek", "too-short", ok=False)


def test_revoke_arguments(cli) -> None:  # type: ignore[no-untyped-def]
    cli("revoke", ok=False)
    cli("revoke", "--client", "a", "--subject", "b", ok=False)
    assert "ΛID" in cli("revoke", "--subject", "not-a-lid", ok=False).stderr
    assert "no client 'cl_whatever'" in cli("revoke", "--client", "cl_whatever", ok=False).stderr


def test_config_show_masks_secrets(cli) -> None:  # type: ignore[no-untyped-def]
    kek = new_kek_b64()
    out = cli(
        "config",
        "show",
        extra={"LUKHAS_ID_KEK": kek, "LUKHAS_ID_DATABASE_URL": "postgresql://u:hunter2@db/x"},
    ).stdout
    shown = json.loads(out)
    assert shown["kek"] == "********"
    assert "hunter2" not in out and kek not in out


def test_invalid_setting_stops_with_one_line(cli) -> None:  # type: ignore[no-untyped-def]
    err = cli("config", "show", ok=False, extra={"LUKHAS_ID_PORT": "eighty"}).stderr
    assert "LUKHAS_ID_PORT" in err
    err = cli("serve", ok=False, extra={"LUKHAS_ID_KEK": "nope"}).stderr
    assert "LUKHAS_ID_KEK" in err
    cli("--config", "/nonexistent.toml", "config", "show", ok=False)


def test_db_upgrade(cli) -> None:  # type: ignore[no-untyped-def]
    assert "revision" in cli("db", "upgrade").stdout


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "reuseport-like-granian"])
def test_serve_refuses_a_port_in_use_before_preparing_anything(cli, tmp_path: Path, reuse_port: bool) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as held:
        if reuse_port:
            held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        proc = cli("serve", "--host", "127.0.0.1", "--port", str(port), ok=False)
    assert proc.stderr.strip().splitlines() == [f"error: port {port} on 127.0.0.1 is already in use"]
    assert proc.stdout == ""
    assert not (tmp_path / "var" / "lukhas-id.db").exists()  # no database prepared, no worker started


def test_unknown_settings_in_the_environment_are_named_with_the_closest_one(cli) -> None:  # type: ignore[no-untyped-def]
    extra = {
        "LUKHAS_ID_DATABSE_URL": "postgresql://u:hunter2@db/x",
        "LUKHAS_ID_ZZZ": "s3cr3t-value",
        "lukhas_id_log_levl": "debug",
        "LUKHAS_ID_LOG_LEVEL": "warning",
        "LUKHAS_ID_CONFIG_FILE": "",
    }
    proc = cli("config", "show", extra=extra)
    assert [line for line in proc.stderr.splitlines() if line.startswith("warning")] == [
        "warning: unknown setting LUKHAS_ID_DATABSE_URL (did you mean LUKHAS_ID_DATABASE_URL?)",
        "warning: unknown setting LUKHAS_ID_ZZZ",
        "warning: unknown setting lukhas_id_log_levl (did you mean LUKHAS_ID_LOG_LEVEL?)",
    ]
    assert "hunter2" not in proc.stderr + proc.stdout and "s3cr3t" not in proc.stderr + proc.stdout
    assert json.loads(proc.stdout)["default_tenant"] == "default"  # a warning, not an error: the command ran
    assert "warning" not in cli("tenant", "list", extra={"LUKHAS_ID_LOG_LEVEL": "warning"}).stderr


def test_serve_reports_unknown_settings_too(cli) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        proc = cli(
            "serve", "--port", str(port), ok=False, extra={"LUKHAS_ID_HOTS": "127.0.0.1", "LUKHAS_ID_HOST": "127.0.0.1"}
        )
    assert proc.stderr.splitlines() == [
        "warning: unknown setting LUKHAS_ID_HOTS (did you mean LUKHAS_ID_HOST?)",
        f"error: port {port} on 127.0.0.1 is already in use",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("user", "delete"), "error: Missing argument 'username'."),
        (("user", "delete", "alice", "--yse"), "error: No such option: --yse (Possible options: --yes)"),
        (("user", "sessoins", "alice"), "error: No such command 'sessoins'. Did you mean 'sessions'?"),
        (("client", "update", "cl_x", "--ttl", "soon"), "error: Invalid value for '--ttl': "),
    ],
)
def test_usage_errors_are_one_line_without_library_exception_names(cli, args: tuple[str, ...], message: str) -> None:  # type: ignore[no-untyped-def]
    err = cli(*args, ok=False).stderr
    assert err.strip().splitlines()[-1].startswith(message)
    for name in ("MissingParameter", "NoSuchOption", "BadParameter", "UsageError", "Exception"):
        assert name not in err
