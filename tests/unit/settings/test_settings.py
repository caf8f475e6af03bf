"""Settings: env prefix, TOML file, one-line errors naming the setting, masking, the generated reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from lukhas_id.bootstrap import load_attestation_roots
from lukhas_id.errors import ConfigurationError
from lukhas_id.settings import CONFIG_FILE_ENV, load_settings, mask_url, masked
from lukhas_id.settings.reference import render
from tests.support.authenticator import AttestationCA
from tests.support.paths import REPO

DOCS = REPO / "docs" / "configuration.md"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("LUKHAS_ID_"):
            monkeypatch.delenv(name)


def test_defaults() -> None:
    s = load_settings()
    assert s.issuer == "http://127.0.0.1:8000"
    assert s.embedded_database
    assert s.effective_database_url.startswith("sqlite+aiosqlite:///")


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUKHAS_ID_PUBLIC_URL", "https://id.example.com/")
    monkeypatch.setenv("LUKHAS_ID_WORKERS", "4")
    s = load_settings()
    assert s.issuer == "https://id.example.com"
    assert s.workers == 4


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LUKHAS_ID_PORT", "eighty", "LUKHAS_ID_PORT"),
        ("LUKHAS_ID_PORT", "70000", "LUKHAS_ID_PORT"),
        ("LUKHAS_ID_PUBLIC_URL", "not a url", "LUKHAS_ID_PUBLIC_URL"),
        ("LUKHAS_ID_PUBLIC_URL", "https://id.example.com/?q=1", "LUKHAS_ID_PUBLIC_URL"),
        ("LUKHAS_ID_DEFAULT_TENANT", "Not Valid", "LUKHAS_ID_DEFAULT_TENANT"),
        ("LUKHAS_ID_ACCESS_TOKEN_ALG", "none", "LUKHAS_ID_ACCESS_TOKEN_ALG"),
        ("LUKHAS_ID_LOG_LEVEL", "loud", "LUKHAS_ID_LOG_LEVEL"),
    ],
)
def test_invalid_value_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    message = str(err.value)
    assert expected in message
    assert "\n" not in message


def test_toml_file_and_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "lukhas.toml"
    cfg.write_text('[lukhas_id]\nport = 9000\nworkers = 3\npublic_url = "https://id.example.com"\n')
    monkeypatch.setenv(CONFIG_FILE_ENV, str(cfg))
    monkeypatch.setenv("LUKHAS_ID_WORKERS", "2")
    s = load_settings()
    assert (s.port, s.workers, s.issuer) == (9000, 2, "https://id.example.com")


def test_unknown_key_in_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "lukhas.toml"
    cfg.write_text("prot = 9000\n")
    monkeypatch.setenv(CONFIG_FILE_ENV, str(cfg))
    with pytest.raises(ConfigurationError, match="prot"):
        load_settings()


def test_bad_toml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "lukhas.toml"
    cfg.write_text("port = = 1\n")
    monkeypatch.setenv(CONFIG_FILE_ENV, str(cfg))
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings()


def test_masking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUKHAS_ID_KEK", "c2VjcmV0LWtlay1ub3QtcHJpbnRlZC0xMjM0NTY3ODk=")
    monkeypatch.setenv("LUKHAS_ID_DATABASE_URL", "postgresql://user:hunter2@db/x")
    shown = masked(load_settings())
    text = repr(shown)
    assert "hunter2" not in text
    assert "c2VjcmV0" not in text
    assert shown["kek"] == "********"
    assert mask_url("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"


def test_configuration_reference_is_current() -> None:
    assert DOCS.read_text() == render(), "run: python -m lukhas_id.settings.reference > docs/configuration.md"


# -- WebAuthn attestation trust anchors (bootstrap.load_attestation_roots) ----------------------------


def test_attestation_roots_are_read_from_a_pem_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first, second = AttestationCA(), AttestationCA()
    pem = tmp_path / "roots.pem"
    pem.write_bytes(b"".join(ca.cert.public_bytes(serialization.Encoding.PEM) for ca in (first, second)))
    assert load_attestation_roots(load_settings()) == ()  # unset: none
    monkeypatch.setenv("LUKHAS_ID_WEBAUTHN_ATTESTATION", "direct")
    monkeypatch.setenv("LUKHAS_ID_WEBAUTHN_ATTESTATION_ROOTS", str(pem))
    assert load_attestation_roots(load_settings()) == (first.cert, second.cert)


@pytest.mark.parametrize(
    ("conveyance", "content", "expected"),
    [
        ("none", b"", "needs LUKHAS_ID_WEBAUTHN_ATTESTATION=direct"),
        ("direct", None, "cannot read"),
        ("direct", b"not a certificate", "no readable PEM certificate"),
        ("direct", b"", "no readable PEM certificate"),
    ],
)
def test_unusable_attestation_roots_stop_start_up_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, conveyance: str, content: bytes | None, expected: str
) -> None:
    pem = tmp_path / "roots.pem"
    if content is not None:
        pem.write_bytes(content)
    monkeypatch.setenv("LUKHAS_ID_WEBAUTHN_ATTESTATION", conveyance)
    monkeypatch.setenv("LUKHAS_ID_WEBAUTHN_ATTESTATION_ROOTS", str(pem))
    with pytest.raises(ConfigurationError, match=expected) as err:
        load_attestation_roots(load_settings())
    assert "LUKHAS_ID_WEBAUTHN_ATTESTATION_ROOTS" in str(err.value) and "\n" not in str(err.value)
