"""SQL table models: SQLAlchemy 2 declarative rows, identical on SQLite and PostgreSQL.

Only portable column types are used (String, Text holding JSON, Integer/BigInteger, Double for epoch
seconds, LargeBinary, Boolean), so one schema and one migration serve both databases. Constraint names come
from the naming convention on the MetaData, which keeps Alembic autogenerate stable.

These rows are storage, not domain objects: `mapping.py` converts them to and from the frozen
dataclasses of `lukhas_id.domain`.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TenantRow(Base):
    __tablename__ = "tenants"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    id_secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    access_token_alg: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)


class PrincipalRow(Base):
    """The unique index on lid alone (migration 0008) makes a ΛID collision impossible across tenants;
    the primary key (tenant_id, lid) stays."""

    __tablename__ = "principals"
    __table_args__ = (Index(None, "lid", unique=True),)

    tenant_id: Mapped[str] = mapped_column(String, ForeignKey("tenants.id"), primary_key=True)
    lid: Mapped[str] = mapped_column(String, primary_key=True)
    type: Mapped[str] = mapped_column(String)
    display_name: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)


class ClientRow(Base):
    """grant_types and scopes: JSON lists, sorted; resources and the redirect URIs: JSON lists in the
    client's order. The columns added by migration 0002 have server defaults (a machine client's values),
    so rows written before it read back unchanged."""

    __tablename__ = "clients"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "principal_lid"], ["principals.tenant_id", "principals.lid"]),
        Index(None, "tenant_id", "principal_lid"),
        Index(None, "principal_lid", unique=True),  # migration 0008: one client per principal, ΛIDs global
    )

    tenant_id: Mapped[str] = mapped_column(String, ForeignKey("tenants.id"), primary_key=True)
    client_id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    principal_lid: Mapped[str] = mapped_column(String)
    principal_type: Mapped[str] = mapped_column(String)
    secret_hash: Mapped[str] = mapped_column(String)
    grant_types: Mapped[str] = mapped_column(Text)
    scopes: Mapped[str] = mapped_column(Text)
    resources: Mapped[str] = mapped_column(Text)
    token_format: Mapped[str] = mapped_column(String)
    access_token_ttl: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)
    redirect_uris: Mapped[str] = mapped_column(Text, server_default=text("'[]'"))
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text, server_default=text("'[]'"))
    token_endpoint_auth_method: Mapped[str] = mapped_column(String, server_default=text("'client_secret_basic'"))
    id_token_signed_response_alg: Mapped[str] = mapped_column(String, server_default=text("'RS256'"))
    subject_type: Mapped[str] = mapped_column(String, server_default=text("'public'"))
    first_party: Mapped[bool] = mapped_column(Boolean, server_default=false())
    refresh_grace_seconds: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    registration_token_hash: Mapped[str | None] = mapped_column(String, nullable=True)  # migration 0006
    # migration 0009: the secret before the last rotation, accepted until previous_secret_expires_at
    previous_secret_hash: Mapped[str | None] = mapped_column(String, nullable=True)
    previous_secret_expires_at: Mapped[float | None] = mapped_column(Double, nullable=True)


class UserRow(Base):
    """A user (USR principal). username_key (NFKC + case fold) is unique per tenant; username is as entered."""

    __tablename__ = "users"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "lid"], ["principals.tenant_id", "principals.lid"]),
        UniqueConstraint("tenant_id", "username_key"),
        Index(None, "lid", unique=True),  # migration 0008: ΛIDs unique across tenants
    )

    tenant_id: Mapped[str] = mapped_column(String, ForeignKey("tenants.id"), primary_key=True)
    lid: Mapped[str] = mapped_column(String, primary_key=True)
    username: Mapped[str] = mapped_column(String)
    username_key: Mapped[str] = mapped_column(String)
    email: Mapped[str | None] = mapped_column(String)
    email_verified: Mapped[bool] = mapped_column(Boolean)
    display_name: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String)
    password_hash: Mapped[str | None] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)


class SigningKeyRow(Base):
    __tablename__ = "signing_keys"
    __table_args__ = (Index(None, "tenant_id", "state"),)

    tenant_id: Mapped[str] = mapped_column(String, ForeignKey("tenants.id"), primary_key=True)
    kid: Mapped[str] = mapped_column(String, primary_key=True)
    alg: Mapped[str] = mapped_column(String)
    state: Mapped[str] = mapped_column(String)
    public_jwk: Mapped[str] = mapped_column(Text)
    private_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Double)
    activated_at: Mapped[float | None] = mapped_column(Double)
    retired_at: Mapped[float | None] = mapped_column(Double)
    remove_after: Mapped[float | None] = mapped_column(Double)


class OpaqueTokenRow(Base):
    """An opaque access token's record (JSON), keyed by a hash of the token; gone after expires_at."""

    __tablename__ = "opaque_tokens"

    token_hash: Mapped[str] = mapped_column(String, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String)
    record: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[float] = mapped_column(Double, index=True)


class RevokedJtiRow(Base):
    __tablename__ = "revoked_jtis"

    tenant_id: Mapped[str] = mapped_column(String, primary_key=True)
    jti: Mapped[str] = mapped_column(String, primary_key=True)
    expires_at: Mapped[float] = mapped_column(Double, index=True)


class NotBeforeMarkerRow(Base):
    """Tokens of (tenant_id, kind, ident) with iat <= at are inactive until expires_at."""

    __tablename__ = "not_before_markers"

    tenant_id: Mapped[str] = mapped_column(String, primary_key=True)
    kind: Mapped[str] = mapped_column(String, primary_key=True)
    ident: Mapped[str] = mapped_column(String, primary_key=True)
    at: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[float] = mapped_column(Double, index=True)


class KeyValueRow(Base):
    """Short-lived key-value state of the embedded default (SqlKeyValueStore): a value or a counter."""

    __tablename__ = "kv_entries"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[bytes | None] = mapped_column(LargeBinary)
    counter: Mapped[int | None] = mapped_column(BigInteger)
    expires_at: Mapped[float] = mapped_column(Double, index=True)


class ConsentRow(Base):
    """Scopes a user granted a client (a JSON list, sorted)."""

    __tablename__ = "consents"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "user_lid"], ["users.tenant_id", "users.lid"]),)

    tenant_id: Mapped[str] = mapped_column(String, primary_key=True)
    user_lid: Mapped[str] = mapped_column(String, primary_key=True)
    client_id: Mapped[str] = mapped_column(String, primary_key=True)
    scopes: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[float] = mapped_column(Double)


class RefreshFamilyRow(Base):
    """A refresh-token family (SqlRefreshTokenStore): the grant it carries (`data`, JSON: scope,
    auth_time, acr, amr, resources), its newest generation and whether it is revoked. Rotations lock it."""

    __tablename__ = "refresh_families"
    __table_args__ = (Index(None, "tenant_id", "sid"),)

    tenant_id: Mapped[str] = mapped_column(String, primary_key=True)
    family_id: Mapped[str] = mapped_column(String, primary_key=True)
    client_id: Mapped[str] = mapped_column(String)
    user_lid: Mapped[str] = mapped_column(String)
    sid: Mapped[str | None] = mapped_column(String)
    data: Mapped[str] = mapped_column(Text)
    generation: Mapped[int] = mapped_column(Integer)
    revoked: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double, index=True)


class RefreshTokenRow(Base):
    """One generation of a family, keyed by a hash of the token; rotated ones remember their successor."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index(None, "tenant_id", "family_id"),)

    token_hash: Mapped[str] = mapped_column(String, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String)
    family_id: Mapped[str] = mapped_column(String)
    generation: Mapped[int] = mapped_column(Integer)
    rotated_at: Mapped[float | None] = mapped_column(Double)
    successor_hash: Mapped[str | None] = mapped_column(String)
    expires_at: Mapped[float] = mapped_column(Double, index=True)


class PasskeyRow(Base):
    """A WebAuthn credential. `handle` is a keyed hash of the credential id; `data_enc` holds the id, the
    COSE public key, AAGUID, transports, attestation format and name, AES-256-GCM under the KEK."""

    __tablename__ = "passkeys"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_lid"], ["users.tenant_id", "users.lid"]),
        Index(None, "tenant_id", "user_lid"),
    )

    tenant_id: Mapped[str] = mapped_column(String, primary_key=True)
    handle: Mapped[str] = mapped_column(String, primary_key=True)
    user_lid: Mapped[str] = mapped_column(String)
    data_enc: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    backup_eligible: Mapped[bool] = mapped_column(Boolean)
    backup_state: Mapped[bool] = mapped_column(Boolean)
    user_verified: Mapped[bool] = mapped_column(Boolean)
    possibly_cloned: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[float] = mapped_column(Double)
    last_used_at: Mapped[float | None] = mapped_column(Double)


class TotpFactorRow(Base):
    """A user's TOTP secret (encrypted under the KEK) and the last accepted time step."""

    __tablename__ = "totp_factors"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "user_lid"], ["users.tenant_id", "users.lid"]),)

    tenant_id: Mapped[str] = mapped_column(String, primary_key=True)
    user_lid: Mapped[str] = mapped_column(String, primary_key=True)
    secret_enc: Mapped[bytes] = mapped_column(LargeBinary)
    confirmed: Mapped[bool] = mapped_column(Boolean)
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[float] = mapped_column(Double)


class RecoveryCodeRow(Base):
    """One single-use recovery code of a user, stored as a keyed hash."""

    __tablename__ = "recovery_codes"
    __table_args__ = (ForeignKeyConstraint(["tenant_id", "user_lid"], ["users.tenant_id", "users.lid"]),)

    tenant_id: Mapped[str] = mapped_column(String, primary_key=True)
    user_lid: Mapped[str] = mapped_column(String, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String, primary_key=True)
    created_at: Mapped[float] = mapped_column(Double)
    used_at: Mapped[float | None] = mapped_column(Double)


class AuditRecordRow(Base):
    """One record of a tenant's audit chain (domain/audit.py). Append-only: ΛiD never updates or deletes a
    row, and triggers (migration 0010) refuse UPDATE and DELETE. `time_us`: microseconds since the epoch."""

    __tablename__ = "audit_records"
    __table_args__ = (Index(None, "time_us"), Index(None, "event_id"))

    tenant_id: Mapped[str] = mapped_column(String, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[str] = mapped_column(String)
    type: Mapped[str] = mapped_column(String)
    time_us: Mapped[int] = mapped_column(BigInteger)
    principal: Mapped[str | None] = mapped_column(String)
    principal_type: Mapped[str | None] = mapped_column(String)
    client_id: Mapped[str | None] = mapped_column(String)
    trace_id: Mapped[str | None] = mapped_column(String)
    origin: Mapped[str | None] = mapped_column(String)
    event_metadata: Mapped[str] = mapped_column("metadata", Text)
    prev_hash: Mapped[str] = mapped_column(String)
    hash: Mapped[str] = mapped_column(String)


class AuditHeadRow(Base):
    """The newest record of each tenant's chain; appends lock it (the chain's per-tenant serialization)."""

    __tablename__ = "audit_heads"

    tenant_id: Mapped[str] = mapped_column(String, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String)


class AuditCheckpointRow(Base):
    """A signed chain head (a JWS by the audit key). Append-only like the records."""

    __tablename__ = "audit_checkpoints"

    tenant_id: Mapped[str] = mapped_column(String, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String)
    at: Mapped[float] = mapped_column(Double)
    jws: Mapped[str] = mapped_column(Text)


class AuditKeyRow(Base):
    """The audit key(s): Ed25519, the private key encrypted under the KEK; the newest signs."""

    __tablename__ = "audit_keys"

    kid: Mapped[str] = mapped_column(String, primary_key=True)
    alg: Mapped[str] = mapped_column(String)
    public_jwk: Mapped[str] = mapped_column(Text)
    private_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Double)


class SsfStreamRow(Base):
    """A Shared Signals stream (domain/ssf.py Stream): events lists as JSON, the push authorization header
    encrypted under the KEK (migration 0011)."""

    __tablename__ = "ssf_streams"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        Index(None, "tenant_id", "client_id"),
    )

    stream_id: Mapped[str] = mapped_column(String, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String)
    client_id: Mapped[str] = mapped_column(String)
    method: Mapped[str] = mapped_column(String)
    endpoint_url: Mapped[str | None] = mapped_column(Text)
    authorization_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    events_requested: Mapped[str | None] = mapped_column(Text)
    events_delivered: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String)
    reason: Mapped[str | None] = mapped_column(Text)
    default_subjects: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    verified_at: Mapped[float | None] = mapped_column(Double)


class SsfSubjectRow(Base):
    """A subject a receiver added (included) or removed (excluded) on a stream, by its canonical key."""

    __tablename__ = "ssf_subjects"
    __table_args__ = (ForeignKeyConstraint(["stream_id"], ["ssf_streams.stream_id"], ondelete="CASCADE"),)

    stream_id: Mapped[str] = mapped_column(String, primary_key=True)
    subject_key: Mapped[str] = mapped_column(String, primary_key=True)
    included: Mapped[bool] = mapped_column(Boolean)


class SsfSetRow(Base):
    """A SET queued for a stream: its claims (signed when sent), its state and retry schedule. `seq` keeps
    the order SETs were queued in; `jti` (unique) makes queuing idempotent."""

    __tablename__ = "ssf_sets"
    __table_args__ = (
        ForeignKeyConstraint(["stream_id"], ["ssf_streams.stream_id"], ondelete="CASCADE"),
        UniqueConstraint("jti"),
        Index(None, "stream_id", "state", "seq"),
        Index(None, "state", "next_attempt_at"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    jti: Mapped[str] = mapped_column(String)
    stream_id: Mapped[str] = mapped_column(String)
    tenant_id: Mapped[str] = mapped_column(String)
    claims: Mapped[str] = mapped_column(Text)
    control: Mapped[bool] = mapped_column(Boolean)
    state: Mapped[str] = mapped_column(String)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[float] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)
    last_error: Mapped[str | None] = mapped_column(String)


class OutboxRow(Base):
    """One identity event, written in the transaction of the change it describes (adapters/sql/outbox.py).

    `position` is global and only orders a tenant's rows together with `seq`, the tenant's own sequence:
    both are assigned while the tenant's head row (OutboxHeadRow) is locked, so a tenant's rows commit in
    the order of their sequence and no reader ever sees a later one before an earlier one (ADR 0008).
    `sent_at` is set once the relay published (NATS) or delivered (in process) the row."""

    __tablename__ = "event_outbox"
    __table_args__ = (
        UniqueConstraint("event_id"),
        UniqueConstraint("tenant_id", "seq"),
        Index(None, "sent_at", "position"),
    )

    position: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(String)
    seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[str] = mapped_column(String)
    type: Mapped[str] = mapped_column(String)
    at: Mapped[float] = mapped_column(Double)
    payload: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[float | None] = mapped_column(Double)


class OutboxHeadRow(Base):
    """A tenant's last assigned outbox sequence number; its row lock serializes the tenant's event writers."""

    __tablename__ = "event_outbox_heads"

    tenant_id: Mapped[str] = mapped_column(String, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class RelayLeaseRow(Base):
    """Who relays the outbox (adapters/events/lease.py): one row per lease name, taken over once expired."""

    __tablename__ = "event_relay_leases"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    holder: Mapped[str] = mapped_column(String)
    expires_at: Mapped[float] = mapped_column(Double)
