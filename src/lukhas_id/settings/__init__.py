"""Settings: typed, frozen pydantic-settings models (env prefix LUKHAS_ID_, optional TOML file)."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from lukhas_id.domain.authn import AcrNames
from lukhas_id.domain.keys import SigningAlg
from lukhas_id.domain.tenant import valid_tenant_name
from lukhas_id.errors import ConfigurationError
from lukhas_id.features import Feature, resolve_features

# Set by `lukhas-id --config FILE` so that server worker processes read the same file.
CONFIG_FILE_ENV = "LUKHAS_ID_CONFIG_FILE"


class Settings(BaseSettings):
    """The effective configuration of one ΛiD process. docs/configuration.md is generated from this."""

    model_config = SettingsConfigDict(env_prefix="LUKHAS_ID_", extra="forbid", frozen=True)

    public_url: AnyHttpUrl = Field(
        AnyHttpUrl("http://127.0.0.1:8000"),
        description="Public base URL; the default tenant's issuer. Tenant T's issuer is {public_url}/t/T.",
    )
    host: str = Field("127.0.0.1", description="Address `lukhas-id serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `lukhas-id serve` listens on.")
    workers: int = Field(1, ge=1, le=64, description="Server worker processes.")
    var_dir: Path = Field(Path("var"), description="Directory for the embedded database and generated KEK.")
    database_url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL of the durable store: postgresql://... in production. "
            "Unset: the embedded SQLite file {var_dir}/lukhas-id.db, upgraded automatically."
        ),
    )
    redis_url: str | None = Field(
        None,
        description=(
            "Redis URL for short-lived state (revocations, opaque tokens). "
            "Unset: token state in the SQL database, other short-lived state in process (one worker)."
        ),
    )
    kek: SecretStr | None = Field(
        None,
        description="Key-encryption key: base64 of 32 bytes. Encrypts private signing keys (AES-256-GCM).",
    )
    kek_file: Path | None = Field(
        None,
        description="File holding the KEK as base64. Unset with no `kek`: {var_dir}/kek, generated if missing.",
    )
    default_tenant: str = Field("default", description="Name of the tenant served at the root.")
    access_token_alg: SigningAlg = Field(SigningAlg.ES256, description="Access token algorithm of new tenants.")
    access_token_ttl: int = Field(
        3600, ge=30, le=86400, description="Default access token lifetime in seconds (per client override)."
    )
    max_access_token_ttl: int = Field(
        86400,
        ge=60,
        le=7 * 86400,
        description="Upper bound of any access token lifetime; retired keys stay published this long.",
    )
    key_rotation_interval: int = Field(
        0,
        ge=0,
        description="Rotate signing keys automatically after this many seconds of activity (0: never).",
    )
    jwks_max_age: int = Field(
        300, ge=0, le=86400, description="Cache-Control max-age of the JWKS and discovery documents."
    )
    max_body_bytes: int = Field(65536, ge=1024, le=1 << 20, description="Largest accepted request body.")
    client_cache_ttl: float = Field(
        5.0,
        ge=0,
        le=300,
        description="Seconds a process caches a client record; a disabled client stops working within this.",
    )
    client_secret_overlap: int = Field(
        86400,
        ge=0,
        le=30 * 86400,
        description=(
            "Seconds a client's previous secret stays accepted after `lukhas-id client rotate-secret` "
            "(0: refused at once; the command's --overlap overrides it)."
        ),
    )
    log_level: str = Field("INFO", description="Logging level.")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description=(
            "Log line format: `json` (one object per line), `text` (readable lines) or `auto` (text when the "
            "log stream, standard error, is a terminal, else JSON)."
        ),
    )
    access_log: bool = Field(
        True,
        description=(
            "Write one `http.access` log line per request (method, route template, status, duration), "
            "whatever LUKHAS_ID_LOG_LEVEL says."
        ),
    )
    server_timing: bool = Field(
        False,
        description=(
            "Add `Server-Timing: app;dur=<ms>` to every response (the application's time, for benchmarks "
            "such as `make bench`). Off in production: it tells every client how long the server worked."
        ),
    )
    otlp_endpoint: AnyHttpUrl | None = Field(
        None,
        description=(
            "Base URL of an OpenTelemetry collector's OTLP/HTTP receiver (e.g. http://127.0.0.1:4318): spans are "
            "POSTed to {otlp_endpoint}/v1/traces. Unset: no tracing, and OpenTelemetry is not even imported."
        ),
    )
    trace_sample_ratio: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description=(
            "With tracing on: the share of new traces recorded (0.0-1.0). A request continuing a caller's "
            "`traceparent` follows the caller's sampled flag instead."
        ),
    )
    otlp_timeout: float = Field(
        5.0,
        gt=0,
        le=60,
        description=(
            "Seconds one export of spans may take, retries included; spans are exported in the background, so "
            "this bounds the exporter (and the flush at shutdown), never a request."
        ),
    )
    audit_log: bool = Field(
        True,
        description=(
            "Append every identity event to the tamper-evident audit log (a per-tenant hash chain written in "
            "the event's transaction; docs/audit.md)."
        ),
    )
    audit_seal_interval: int = Field(
        300,
        ge=0,
        le=86400,
        description=(
            "Seconds between signatures of the audit chains' heads by the maintenance pass (only chains that "
            "grew are signed; 0: only `lukhas-id audit seal`)."
        ),
    )
    webauthn_rp_id: str | None = Field(
        None,
        description="WebAuthn relying party id (a registrable domain). Unset: the public URL's host.",
    )
    webauthn_rp_name: str = Field("ΛiD", min_length=1, max_length=64, description="WebAuthn relying party name.")
    webauthn_origins: tuple[str, ...] = Field(
        (),
        description=(
            "Origins (scheme://host[:port]) allowed in WebAuthn client data, as a JSON list. "
            "Empty: the public URL's origin only."
        ),
    )
    webauthn_user_verification: Literal["required", "preferred", "discouraged"] = Field(
        "preferred", description="WebAuthn userVerification at sign-in (step-up always uses required)."
    )
    webauthn_resident_key: Literal["required", "preferred", "discouraged"] = Field(
        "preferred", description="WebAuthn residentKey at registration (discoverable credentials, i.e. passkeys)."
    )
    webauthn_attestation: Literal["none", "direct"] = Field(
        "none",
        description="WebAuthn attestation conveyance; `direct` verifies the attestation statement at registration.",
    )
    webauthn_aaguids: tuple[str, ...] = Field(
        (),
        description="With `direct` attestation: the authenticator models allowed (AAGUIDs, a JSON list). Empty: any.",
    )
    webauthn_attestation_roots: Path | None = Field(
        None,
        description=(
            "With `direct` attestation: a PEM file of trusted attestation root certificates; every statement must "
            "chain to one (self attestation is then refused). Unset: statements are verified but not anchored."
        ),
    )
    acr_password: str = Field("urn:lukhas:acr:pwd", min_length=1, description="`acr` of a password sign-in.")
    acr_passkey: str = Field(
        "urn:lukhas:acr:passkey", min_length=1, description="`acr` of a passkey sign-in without user verification."
    )
    acr_mfa: str = Field(
        "urn:lukhas:acr:mfa",
        min_length=1,
        description="`acr` of two factors: password + TOTP or recovery code, or a user-verified passkey.",
    )
    step_up_max_age: int = Field(
        300,
        ge=30,
        le=3600,
        description="Sensitive account actions need a second-factor authentication at most this many seconds old.",
    )
    sign_in_rate_limit: int = Field(
        5, ge=1, le=1000, description="Failed sign-in attempts allowed per account and per client address..."
    )
    sign_in_rate_window: int = Field(60, ge=1, le=86400, description="...per this many seconds (a token bucket).")
    refresh_token_idle_ttl: int = Field(
        14 * 24 * 3600,
        ge=300,
        le=30 * 24 * 3600,
        description="A refresh token not used within this many seconds of its issue is refused (OAuth 2.1 §4.3.3).",
    )
    client_auth_rate_limit: int = Field(
        20,
        ge=1,
        le=100000,
        description="Failed OAuth client authentications allowed per client address (IPv6: its /64) and client id...",
    )
    client_auth_rate_window: int = Field(
        60, ge=1, le=86400, description="...per this many seconds (a token bucket); then the address waits (429)."
    )
    experimental_features: tuple[Feature, ...] = Field(
        (), description="Experimental features to turn on, as a JSON list (none exist in this version)."
    )
    disabled_features: tuple[Feature, ...] = Field(
        (),
        description=(
            "Stable features to turn off, as a JSON list (client_credentials, authorization_code, refresh_token, "
            "introspection, revocation, userinfo, logout, dynamic_registration, passkeys, shared_signals): their "
            "endpoints and grants do not exist and discovery does not list them."
        ),
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description=(
            "Addresses or CIDR blocks of the reverse proxies in front of ΛiD, as a JSON list. Only from these "
            "peers are Forwarded / X-Forwarded-For (the client's address) and the client certificate header read."
        ),
    )
    client_cert_header: str | None = Field(
        None,
        description=(
            "Header in which a trusted TLS-terminating proxy passes the client certificate (URL-encoded PEM, "
            "as nginx's $ssl_client_escaped_cert); ignored from any other peer. Unset: no client certificates."
        ),
    )

    outbound_allow_loopback: bool = Field(
        False,
        description=(
            "Development and tests only: let ΛiD's outbound requests (SSF push endpoints) reach loopback addresses, "
            "over plain http too. Off: every outbound URL must be https to a globally routable address."
        ),
    )
    outbound_allowed_networks: tuple[str, ...] = Field(
        (),
        description=(
            "CIDR blocks, as a JSON list, that outbound requests may reach although they are private, link-local "
            "or otherwise not globally routable (receivers on an internal network). https is still required."
        ),
    )
    outbound_connect_timeout: float = Field(5.0, gt=0, le=60, description="Seconds to connect, per outbound request.")
    outbound_read_timeout: float = Field(
        10.0, gt=0, le=120, description="Seconds to wait for each part of an outbound response."
    )
    outbound_max_response_bytes: int = Field(
        65536, ge=1024, le=1 << 22, description="Largest outbound response body read; a larger one is refused."
    )
    ssf_default_subjects: Literal["ALL", "NONE"] = Field(
        "ALL",
        description=(
            "Shared Signals: which subjects a new stream covers (`default_subjects`, SSF §7.1): `ALL` (the "
            "receiver removes subjects it does not want) or `NONE` (it adds the ones it wants)."
        ),
    )
    ssf_push_max_attempts: int = Field(
        12, ge=1, le=100, description="Shared Signals push: delivery attempts of one SET before it is given up."
    )
    ssf_push_max_age: int = Field(
        86400,
        ge=60,
        le=30 * 86400,
        description="Shared Signals push: seconds after which an undelivered SET is given up, whatever its attempts.",
    )
    ssf_push_retry_base: float = Field(
        2.0, gt=0, le=600, description="Shared Signals push: the first retry's delay in seconds; it doubles each time."
    )
    ssf_poll_max_wait: float = Field(
        15.0,
        ge=0,
        le=120,
        description="Shared Signals poll: the longest a poll with returnImmediately=false waits for a SET (seconds).",
    )
    ssf_min_verification_interval: int = Field(
        10, ge=0, le=86400, description="Shared Signals: seconds between two verification requests of one stream."
    )
    ssf_inactivity_timeout: int = Field(
        30 * 86400,
        ge=0,
        le=365 * 86400,
        description=(
            "Shared Signals: seconds without any call of the receiver on a stream (a management call naming it, "
            "a poll) after which the maintenance pass pauses it, with a stream-updated SET (`inactivity_timeout`, "
            "SSF §8.1.1); 0: never."
        ),
    )

    @field_validator("outbound_allowed_networks")
    @classmethod
    def _outbound_networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not a CIDR block") from None
        return value

    event_outbox: bool = Field(
        True,
        description=(
            "Write identity events to the outbox table in the transaction of their change and relay them "
            "(to NATS when LUKHAS_ID_NATS_URL is set, else to in-process consumers). Off: events only reach "
            "the log lines and metrics of the process that made them."
        ),
    )
    nats_url: str | None = Field(
        None,
        description=(
            "NATS server URL (nats://host:4222) with JetStream: the outbox relay publishes every identity event "
            "there. Unset: events are delivered in process only."
        ),
    )
    nats_stream: str = Field(
        "IDENTITY", min_length=1, max_length=64, description="JetStream stream of identity events (made if missing)."
    )
    nats_subject_prefix: str = Field(
        "identity", min_length=1, max_length=64, description="Subject prefix: events go to <prefix>.<tenant id>.<type>."
    )
    event_relay_poll_interval: float = Field(
        1.0,
        ge=0.05,
        le=60,
        description=(
            "Seconds between the relay's looks for events written by other processes (its own are relayed at once)."
        ),
    )
    event_relay_lease_ttl: float = Field(
        15.0,
        ge=1,
        le=600,
        description="Seconds a relay's lease lasts unrenewed; another process's relay takes over after it.",
    )
    event_retention: int = Field(
        7 * 86400,
        ge=60,
        description="Seconds relayed events stay in the outbox table (for `events tail`) before the maintenance pass "
        "deletes them.",
    )

    @field_validator("nats_stream")
    @classmethod
    def _stream_name(cls, value: str) -> str:
        if not all(c.isalnum() or c in "-_" for c in value):
            raise ValueError("must be letters, digits, '-' and '_'")
        return value

    @field_validator("nats_subject_prefix")
    @classmethod
    def _subject_prefix(cls, value: str) -> str:
        tokens = value.split(".")
        if any(not t or not all(c.isalnum() or c in "-_" for c in t) for t in tokens):
            raise ValueError("must be dot-separated tokens of letters, digits, '-' and '_'")
        return value

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("nats://", "tls://", "ws://", "wss://")):
            raise ValueError("must be a nats:// (or tls://, ws://, wss://) URL")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for item in value:
            try:
                ipaddress.ip_network(item.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR block") from None
        return value

    @field_validator("client_cert_header")
    @classmethod
    def _cert_header(cls, value: str | None) -> str | None:
        if value is not None and (not value or not all(c.isalnum() or c in "-_" for c in value)):
            raise ValueError("must be an HTTP header name (letters, digits, '-' and '_')")
        return value.lower() if value is not None else None

    @field_validator("default_tenant")
    @classmethod
    def _tenant_name(cls, value: str) -> str:
        if not valid_tenant_name(value):
            raise ValueError("must be 1-63 lower-case letters, digits or hyphens")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: AnyHttpUrl) -> AnyHttpUrl:
        if value.query or value.fragment:
            raise ValueError("must not have a query or fragment")
        return value

    @field_validator("otlp_endpoint")
    @classmethod
    def _otlp_endpoint(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and (value.query or value.fragment or value.username or value.password):
            raise ValueError("must be a base URL without credentials, query or fragment")
        return value

    @field_validator("webauthn_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            scheme, sep, rest = origin.partition("://")
            if scheme not in {"https", "http"} or not sep or not rest or "/" in rest or origin != origin.strip():
                raise ValueError(f"{origin!r} is not an origin (scheme://host[:port], no path)")
        return value

    @field_validator("acr_password", "acr_passkey", "acr_mfa")
    @classmethod
    def _acr(cls, value: str) -> str:
        if not value.isascii() or any(ch.isspace() for ch in value):
            raise ValueError("must be ASCII without spaces")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return upper

    @property
    def features(self) -> frozenset[Feature]:
        """The enabled features (features.py); ask only where endpoints and grants are assembled."""
        return resolve_features(self.disabled_features, self.experimental_features)

    @field_validator("experimental_features")
    @classmethod
    def _experimental(cls, value: tuple[Feature, ...]) -> tuple[Feature, ...]:
        resolve_features((), value)
        return value

    @field_validator("disabled_features")
    @classmethod
    def _features(cls, value: tuple[Feature, ...], info: ValidationInfo) -> tuple[Feature, ...]:
        resolve_features(value, info.data.get("experimental_features", ()))
        return value

    @property
    def issuer(self) -> str:
        return str(self.public_url).rstrip("/")

    @property
    def acr_names(self) -> AcrNames:
        return AcrNames(password=self.acr_password, passkey=self.acr_passkey, mfa=self.acr_mfa)

    @property
    def effective_rp_id(self) -> str:
        return self.webauthn_rp_id or (self.public_url.host or "localhost")

    @property
    def effective_origins(self) -> tuple[str, ...]:
        if self.webauthn_origins:
            return self.webauthn_origins
        url = self.public_url
        default_port = {"https": 443, "http": 80}[url.scheme]
        port = "" if url.port in (None, default_port) else f":{url.port}"
        return (f"{url.scheme}://{url.host}{port}",)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir / 'lukhas-id.db'}"

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def effective_kek_file(self) -> Path:
        return self.kek_file or self.var_dir / "kek"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments, then environment, then the TOML file.
        return init_settings, env_settings, _TomlSource(settings_cls)


class _TomlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get(CONFIG_FILE_ENV)
        if not path:
            return {}
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigurationError(f"config file {path!r} cannot be read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"config file {path!r} is not valid TOML: {exc}") from None
        section = data.get("lukhas_id", data)
        if not isinstance(section, dict):
            raise ConfigurationError(f"config file {path!r}: [lukhas_id] must be a table")
        return section


def load_settings(**overrides: Any) -> Settings:
    """Build Settings; any invalid value raises ConfigurationError with one line naming the setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "settings"
        name = f"LUKHAS_ID_{loc.upper()}" if err["type"] != "extra_forbidden" else loc
        what = "is not a known setting" if err["type"] == "extra_forbidden" else err["msg"].lower()
        raise ConfigurationError(f"invalid setting {name}: {what}") from None


ENV_PREFIX = "LUKHAS_ID_"
# Variables of ΛiD's own test suite (tests/support/), never settings of a deployment.
_TEST_PREFIX = "LUKHAS_ID_TEST_"


def unknown_environment(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Each `LUKHAS_ID_*` variable of `environ` that is no setting (a typo is otherwise silently ignored),
    with the known variable whose name is closest, or None. Only the names are read, never the values.
    Names are compared ignoring case, as the settings read them."""
    known = {name.upper(): f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    known[CONFIG_FILE_ENV.removeprefix(ENV_PREFIX)] = CONFIG_FILE_ENV
    out: list[tuple[str, str | None]] = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper.startswith(_TEST_PREFIX):
            continue
        suffix = upper.removeprefix(ENV_PREFIX)
        if suffix in known:
            continue
        close = difflib.get_close_matches(suffix, list(known), n=1, cutoff=0.6)
        out.append((name, known[close[0]] if close else None))
    return out


SECRET_FIELDS = frozenset({"kek"})


def masked(settings: Settings) -> dict[str, Any]:
    """The effective configuration with secrets masked and passwords removed from URLs."""
    out: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if name in SECRET_FIELDS:
            out[name] = "********" if value is not None else None
        elif name.endswith("_url") and isinstance(value, str):
            out[name] = mask_url(value)
        elif isinstance(value, Path | AnyHttpUrl):
            out[name] = str(value)
        else:
            out[name] = value
    out["database_url"] = mask_url(settings.effective_database_url)
    return out


def mask_url(url: str) -> str:
    """Hide the password of a URL (scheme://user:***@host/...)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest.split("/", 1)[0]:
        return url
    creds, _, tail = rest.partition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}" if ":" in creds else url
