"""The composition root: Settings -> adapters -> services -> Container. Only this module sees everything."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from lukhas_id.adapters.crypto.kek import Kek, ensure_kek_file, load_kek_file, parse_kek_b64
from lukhas_id.adapters.crypto.passwords import PasswordHasher, check_password_policy
from lukhas_id.adapters.events.in_process import InProcessSink
from lukhas_id.adapters.http.outbound import HardenedHttpClient, OutboundPolicy, parse_networks
from lukhas_id.adapters.sql.audit import SqlAuditRecorder, SqlAuditStore
from lukhas_id.adapters.sql.clients import SqlClientRepository
from lukhas_id.adapters.sql.consents import SqlConsentRepository
from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.errors import STORE as SQL_STORE
from lukhas_id.adapters.sql.factors import SqlRecoveryCodeRepository, SqlTotpRepository
from lukhas_id.adapters.sql.keys import SqlSigningKeyRepository
from lukhas_id.adapters.sql.material import SqlEncryptedMaterial
from lukhas_id.adapters.sql.outbox import SqlOutbox, SqlOutboxRecorder, SqlRelayLease
from lukhas_id.adapters.sql.passkeys import SqlPasskeyRepository
from lukhas_id.adapters.sql.ssf import SqlSetQueue, SqlSsfStreams
from lukhas_id.adapters.sql.tenants import SqlTenantRepository
from lukhas_id.adapters.sql.unit_of_work import SqlUnitOfWork
from lukhas_id.adapters.sql.users import SqlUserRepository
from lukhas_id.clock import Clock, SystemClock
from lukhas_id.domain.client import ClientAuthMethod, GrantType
from lukhas_id.domain.ssf import DefaultSubjects
from lukhas_id.errors import ConfigurationError, KeyUnavailable
from lukhas_id.features import Feature
from lukhas_id.metrics import Metrics
from lukhas_id.observability import LogEvent, write
from lukhas_id.ports.rate_limit import RateLimiter
from lukhas_id.ports.state import KeyValueStore, RefreshTokenStore, TokenStateStore
from lukhas_id.ports.unit_of_work import UnitOfWork
from lukhas_id.protocol.oauth2.client_auth import (
    ClientAuthenticator,
    ClientSecretBasic,
    ClientSecretPost,
    NoClientAuthentication,
)
from lukhas_id.protocol.oauth2.client_secret import hash_secret
from lukhas_id.protocol.oauth2.grants import GrantHandler
from lukhas_id.protocol.webauthn import RelyingParty, cache_fido2_type_hints
from lukhas_id.services.account_recovery import AccountRecoveryService
from lukhas_id.services.audit import AuditService
from lukhas_id.services.authorization import AuthorizationService
from lukhas_id.services.client_authentication import ClientAuthentication
from lukhas_id.services.clients import ClientService
from lukhas_id.services.code_grant import CodeGrantService
from lukhas_id.services.codes import AuthorizationCodes
from lukhas_id.services.event_relay import EventRelay, RelayConfig
from lukhas_id.services.id_token_hints import IdTokenHints
from lukhas_id.services.id_tokens import IdTokenIssuer
from lukhas_id.services.keyring import TenantKeyring
from lukhas_id.services.keys import KeyService
from lukhas_id.services.logout import LogoutService
from lukhas_id.services.oauth_endpoints import OAuthEndpoints
from lukhas_id.services.passkeys import PasskeyService
from lukhas_id.services.rate_limit import ClientAuthLimiter, SignInLimiter
from lukhas_id.services.recovery_codes import RecoveryCodeService
from lukhas_id.services.refresh import RefreshTokenService
from lukhas_id.services.registration import RegistrationService
from lukhas_id.services.revocation import RevocationService
from lukhas_id.services.sessions import SessionService
from lukhas_id.services.sign_in import PendingSignIns, SecondFactor, SignInService
from lukhas_id.services.ssf_delivery import SsfDelivery
from lukhas_id.services.ssf_streams import SsfStreamService
from lukhas_id.services.tenants import TenantService
from lukhas_id.services.tokens import TokenService
from lukhas_id.services.totp import TotpService
from lukhas_id.services.user_admin import UserAdministration
from lukhas_id.services.userinfo import UserInfoService
from lukhas_id.services.users import UserService
from lukhas_id.settings import Settings, mask_url

log = logging.getLogger("lukhas_id")


@dataclass
class Container:
    """Everything that lives as long as the process: pools, key sets, services."""

    settings: Settings
    clock: Clock
    database: Database
    kek: Kek
    token_state: TokenStateStore
    kv: KeyValueStore
    keys: KeyService
    tenants: TenantService
    clients: ClientService
    tokens: TokenService
    users: UserService
    codes: AuthorizationCodes
    code_grant: CodeGrantService
    refresh: RefreshTokenService
    sessions: SessionService
    sign_in_limiter: SignInLimiter
    client_auth_limiter: ClientAuthLimiter
    authorization: AuthorizationService
    userinfo: UserInfoService
    logout: LogoutService
    user_admin: UserAdministration
    material: SqlEncryptedMaterial
    grant_handlers: dict[GrantType, GrantHandler]
    events: InProcessSink
    uow: UnitOfWork
    client_authentication: ClientAuthentication
    oauth: OAuthEndpoints
    registration: RegistrationService
    totp: TotpService
    recovery_codes: RecoveryCodeService
    account_recovery: AccountRecoveryService
    pending_sign_ins: PendingSignIns
    keyring: TenantKeyring
    passkeys: PasskeyService
    sign_in: SignInService
    audit: AuditService
    ssf: SsfStreamService
    ssf_delivery: SsfDelivery
    outbox: SqlOutbox
    relay: EventRelay | None  # None when the outbox is off
    metrics: Metrics = field(default_factory=Metrics)
    _closers: list[Any] = field(default_factory=list)

    def probe(self, store: str) -> Awaitable[None] | None:
        """A round trip to the backing service that StoreUnavailable names `store` (the database, or Redis
        when it holds the short-lived state), for observability/outages.py; None for any other name."""
        if store == SQL_STORE:
            return self.database.ping()
        if self.settings.redis_url:
            from lukhas_id.adapters.redis.errors import STORE as REDIS_STORE  # Redis is imported only when used

            if store == REDIS_STORE:
                return self.token_state.ping()
        return None

    async def aclose(self) -> None:
        for closer in reversed(self._closers):
            await closer()
        await self.database.dispose()


def load_kek(settings: Settings) -> tuple[Kek, str | None]:
    """The KEK and, when one was generated now, a one-line notice saying where."""
    try:
        if settings.kek is not None:
            return Kek(parse_kek_b64(settings.kek.get_secret_value())), None
        if settings.kek_file is not None:
            return Kek(load_kek_file(settings.kek_file)), None
    except ValueError as exc:
        name = "LUKHAS_ID_KEK" if settings.kek is not None else "LUKHAS_ID_KEK_FILE"
        raise ConfigurationError(f"invalid setting {name}: {exc}") from None
    if not settings.embedded_database:
        raise ConfigurationError(
            "invalid setting LUKHAS_ID_KEK: required (or LUKHAS_ID_KEK_FILE) with an external database"
        )
    path = settings.effective_kek_file
    key, created = ensure_kek_file(path)
    notice = (
        f"generated a new key-encryption key in {path} (mode 0600); back it up: without it the signing "
        "keys cannot be decrypted"
        if created
        else None
    )
    return Kek(key), notice


def load_attestation_roots(settings: Settings) -> tuple[x509.Certificate, ...]:
    """The WebAuthn attestation trust anchors of `webauthn_attestation_roots` (none when it is unset)."""
    path = settings.webauthn_attestation_roots
    if path is None:
        return ()
    name = "LUKHAS_ID_WEBAUTHN_ATTESTATION_ROOTS"
    if settings.webauthn_attestation != "direct":
        raise ConfigurationError(f"invalid setting {name}: needs LUKHAS_ID_WEBAUTHN_ATTESTATION=direct")
    try:
        roots = tuple(x509.load_pem_x509_certificates(path.read_bytes()))
    except OSError as exc:
        raise ConfigurationError(f"invalid setting {name}: cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise ConfigurationError(f"invalid setting {name}: {path} holds no readable PEM certificate") from None
    return roots


async def prepare_database(settings: Settings, database: Database, *, upgrade: bool) -> None:
    """The embedded database upgrades itself; an external one must already be current."""
    if await database.is_current():
        return
    if upgrade or settings.embedded_database:
        await database.upgrade()
        return
    current = await database.current_revision()
    raise ConfigurationError(
        f"the database at {mask_url(settings.effective_database_url)} is at schema revision {current or 'none'} "
        f"but this version of ΛiD needs {database.head_revision()}: run `lukhas-id db upgrade`"
    )


async def check_kek(database: Database, kek: Kek) -> None:
    """Fail at start, in one line, when the configured KEK is not the one the stored keys are under."""
    tenants = await SqlTenantRepository(database).list()
    if tenants:
        try:
            kek.decrypt(tenants[0].id_secret_enc)
        except KeyUnavailable as exc:
            raise ConfigurationError(f"invalid setting LUKHAS_ID_KEK: {exc}") from None


def build_grant_handlers(
    features: frozenset[Feature], tokens: TokenService, code_grant: CodeGrantService, refresh: RefreshTokenService
) -> dict[GrantType, GrantHandler]:
    """The token endpoint's grant table, from the enabled features."""
    handlers = [
        (Feature.CLIENT_CREDENTIALS, GrantHandler(GrantType.CLIENT_CREDENTIALS, tokens.client_credentials, False)),
        (Feature.AUTHORIZATION_CODE, GrantHandler(GrantType.AUTHORIZATION_CODE, code_grant.authorization_code)),
        (Feature.REFRESH_TOKEN, GrantHandler(GrantType.REFRESH_TOKEN, refresh.refresh_token)),
    ]
    return {handler.grant_type: handler for feature, handler in handlers if feature in features}


def build_client_authenticators(clock: Clock) -> dict[ClientAuthMethod, ClientAuthenticator]:
    """The client authentication methods the token, introspection and revocation endpoints accept."""
    dummy = hash_secret(secrets.token_urlsafe(32))  # verified against when a client is unknown
    authenticators: list[ClientAuthenticator] = [
        ClientSecretBasic(dummy, clock),
        ClientSecretPost(dummy, clock),
        NoClientAuthentication(),
    ]
    return {a.method: a for a in authenticators}


@dataclass(frozen=True, slots=True)
class Stores:
    """The short-lived state stores: Redis in production, the SQLite file and the process when embedded."""

    token_state: TokenStateStore
    kv: KeyValueStore
    refresh: RefreshTokenStore
    rate_limiter: RateLimiter


@dataclass(frozen=True, slots=True)
class Identity:
    """Tenants, their keys, clients and users: the durable identity records, and their unit of work."""

    keys: KeyService
    tenants: TenantService
    clients: ClientService
    users: UserService
    events: InProcessSink
    uow: UnitOfWork


@dataclass(frozen=True, slots=True)
class Tokens:
    """Everything the token, introspection and revocation endpoints run on."""

    tokens: TokenService
    codes: AuthorizationCodes
    id_tokens: IdTokenIssuer
    refresh: RefreshTokenService
    code_grant: CodeGrantService
    client_auth_limiter: ClientAuthLimiter
    client_authentication: ClientAuthentication
    grant_handlers: dict[GrantType, GrantHandler]
    oauth: OAuthEndpoints


@dataclass(frozen=True, slots=True)
class People:
    """Signing people in and what follows: sessions, factors, passkeys, authorization, UserInfo, logout."""

    sessions: SessionService
    sign_in_limiter: SignInLimiter
    totp: TotpService
    recovery_codes: RecoveryCodeService
    account_recovery: AccountRecoveryService
    pending_sign_ins: PendingSignIns
    passkeys: PasskeyService
    sign_in: SignInService
    authorization: AuthorizationService
    userinfo: UserInfoService
    logout: LogoutService
    registration: RegistrationService
    user_admin: UserAdministration


def build_stores(settings: Settings, database: Database, clock: Clock, closers: list[Any]) -> Stores:
    if settings.redis_url:
        from lukhas_id.adapters.redis.rate_limit import RedisRateLimiter
        from lukhas_id.adapters.redis.refresh import RedisRefreshTokenStore
        from lukhas_id.adapters.redis.state import RedisKeyValueStore, RedisTokenStateStore, redis_client

        client = redis_client(settings.redis_url)
        closers.append(client.aclose)
        return Stores(
            RedisTokenStateStore(client),
            RedisKeyValueStore(client),
            RedisRefreshTokenStore(client),
            RedisRateLimiter(client),
        )
    from lukhas_id.adapters.memory.rate_limit import MemoryRateLimiter
    from lukhas_id.adapters.sql.kv import SqlKeyValueStore
    from lukhas_id.adapters.sql.refresh import SqlRefreshTokenStore
    from lukhas_id.adapters.sql.token_state import SqlTokenStateStore

    # Token state in the SQLite file, so that every worker and the CLI share it (ADR 0002); rate buckets per
    # worker process (with several workers, configure Redis: services/rate_limit.py).
    return Stores(
        SqlTokenStateStore(database, clock),
        SqlKeyValueStore(database, clock),
        SqlRefreshTokenStore(database),
        MemoryRateLimiter(),
    )


def build_identity(settings: Settings, database: Database, kek: Kek, clock: Clock) -> Identity:
    events = InProcessSink()
    uow = SqlUnitOfWork(database, events)
    if settings.event_outbox:
        uow.add_recorder(SqlOutboxRecorder(database))
    if settings.audit_log:
        # The audit recorder locks its tenant's chain head: keep it the last recorder, so that the lock is
        # held only to the commit (adapters/sql/audit.py).
        uow.add_recorder(SqlAuditRecorder(database))
    keys = KeyService(
        SqlSigningKeyRepository(database),
        kek,
        clock,
        uow,
        max_access_token_ttl=settings.max_access_token_ttl,
        jwks_max_age=settings.jwks_max_age,
    )
    tenants = TenantService(
        SqlTenantRepository(database),
        keys,
        kek,
        clock,
        uow,
        issuer=settings.issuer,
        default_tenant=settings.default_tenant,
    )
    clients = ClientService(
        SqlClientRepository(database),
        clock,
        uow,
        cache_ttl=settings.client_cache_ttl,
        default_ttl=settings.access_token_ttl,
        max_ttl=settings.max_access_token_ttl,
    )
    users = UserService(SqlUserRepository(database), PasswordHasher(), clock, uow, policy=check_password_policy)
    return Identity(keys, tenants, clients, users, events, uow)


def build_relay(settings: Settings, database: Database, clock: Clock, metrics: Metrics) -> EventRelay | None:
    """The outbox relay (services/event_relay.py): to NATS when configured, always to in-process consumers."""
    if not settings.event_outbox:
        return None
    publisher = None
    if settings.nats_url:
        from lukhas_id.adapters.events.nats import NatsPublisher  # nats-py is imported only when used

        publisher = NatsPublisher(settings.nats_url, stream=settings.nats_stream, prefix=settings.nats_subject_prefix)
    config = RelayConfig(poll_interval=settings.event_relay_poll_interval, lease_ttl=settings.event_relay_lease_ttl)
    return EventRelay(SqlOutbox(database), SqlRelayLease(database), clock, metrics, publisher=publisher, config=config)


def build_tokens(
    settings: Settings,
    stores: Stores,
    identity: Identity,
    keyring: TenantKeyring,
    metrics: Metrics,
    clock: Clock,
) -> Tokens:
    keys, tenants, uow = identity.keys, identity.tenants, identity.uow
    tokens = TokenService(
        stores.token_state, keys, tenants, clock, uow, max_access_token_ttl=settings.max_access_token_ttl
    )
    codes = AuthorizationCodes(stores.kv, replay_window=settings.max_access_token_ttl)
    id_tokens = IdTokenIssuer(keys, tenants, clock)
    refresh = RefreshTokenService(
        stores.refresh, tokens, tenants, id_tokens, keyring, clock, uow, idle=settings.refresh_token_idle_ttl
    )
    code_grant = CodeGrantService(codes, tokens, id_tokens, tenants, refresh, users=identity.users.by_lid)
    limiter = ClientAuthLimiter(
        stores.rate_limiter,
        keyring,
        clock,
        metrics,
        limit=settings.client_auth_rate_limit,
        window=settings.client_auth_rate_window,
    )
    grant_handlers = build_grant_handlers(settings.features, tokens, code_grant, refresh)
    authentication = ClientAuthentication(identity.clients, build_client_authenticators(clock), limiter, uow, clock)
    oauth = OAuthEndpoints(
        tenants, authentication, grant_handlers, tokens, RevocationService(tokens, refresh), metrics=metrics
    )
    return Tokens(tokens, codes, id_tokens, refresh, code_grant, limiter, authentication, grant_handlers, oauth)


def build_people(
    settings: Settings,
    database: Database,
    kek: Kek,
    stores: Stores,
    identity: Identity,
    tokens: Tokens,
    keyring: TenantKeyring,
    metrics: Metrics,
    clock: Clock,
    attestation_roots: tuple[x509.Certificate, ...],
) -> People:
    kv, keys, tenants, clients, users = stores.kv, identity.keys, identity.tenants, identity.clients, identity.users
    uow = identity.uow
    hints = IdTokenHints(keys, tenants, clock)
    consents = SqlConsentRepository(database)
    sessions = SessionService(kv, clock)
    authorization = AuthorizationService(
        kv, tokens.codes, clients, tenants, consents, clock, uow, hints, tokens.id_tokens.subject, settings.acr_names
    )
    userinfo = UserInfoService(tokens.tokens, SqlUserRepository(database), clients, tokens.id_tokens, tenants)
    logout = LogoutService(hints, clients, tenants, sessions, consents, SqlUserRepository(database), clock, uow)
    totp = TotpService(
        SqlTotpRepository(database, kek),
        clock,
        uow,
        metrics,
        settings.webauthn_rp_name,
        default_tenant=settings.default_tenant,
    )
    recovery_codes = RecoveryCodeService(SqlRecoveryCodeRepository(database), keyring, clock, uow, metrics)
    account_recovery = AccountRecoveryService(kv, keyring, clock, uow, metrics, users)
    sign_in_limiter = SignInLimiter(
        stores.rate_limiter,
        keyring,
        clock,
        metrics,
        limit=settings.sign_in_rate_limit,
        window=settings.sign_in_rate_window,
    )
    passkeys = PasskeyService(
        SqlPasskeyRepository(database, kek),
        kv,
        keyring,
        users,
        clock,
        uow,
        metrics,
        RelyingParty(
            id=settings.effective_rp_id,
            name=settings.webauthn_rp_name,
            origins=settings.effective_origins,
            user_verification=settings.webauthn_user_verification,
            resident_key=settings.webauthn_resident_key,
            attestation=settings.webauthn_attestation,
            aaguids=frozenset(settings.webauthn_aaguids),
            roots=attestation_roots,
        ),
        settings.acr_names,
    )
    pending_sign_ins = PendingSignIns(kv)
    second_factors: tuple[SecondFactor, ...] = (totp, recovery_codes)  # a code goes to the first that takes it
    sign_in = SignInService(
        sign_in_limiter,
        users,
        second_factors,
        account_recovery,
        passkeys,
        sessions,
        pending_sign_ins,
        settings.acr_names,
        uow=uow,
        clock=clock,
        metrics=metrics,
    )
    return People(
        sessions=sessions,
        sign_in_limiter=sign_in_limiter,
        totp=totp,
        recovery_codes=recovery_codes,
        account_recovery=account_recovery,
        pending_sign_ins=pending_sign_ins,
        passkeys=passkeys,
        sign_in=sign_in,
        authorization=authorization,
        userinfo=userinfo,
        logout=logout,
        registration=RegistrationService(kv, clients, keys, clock),
        user_admin=UserAdministration(
            users, SqlUserRepository(database), logout, sessions, tokens.refresh, tokens.tokens, clock, uow
        ),
    )


@dataclass(frozen=True, slots=True)
class SharedSignals:
    """The SSF transmitter: stream management and delivery, on the hardened outbound HTTP client."""

    streams: SsfStreamService
    delivery: SsfDelivery


def outbound_policy(settings: Settings) -> OutboundPolicy:
    return OutboundPolicy(
        allow_loopback=settings.outbound_allow_loopback,
        allowed_networks=parse_networks(settings.outbound_allowed_networks),
        connect_timeout=settings.outbound_connect_timeout,
        read_timeout=settings.outbound_read_timeout,
        total_timeout=settings.outbound_connect_timeout + 2 * settings.outbound_read_timeout,
        max_response_bytes=settings.outbound_max_response_bytes,
    )


def build_shared_signals(
    settings: Settings,
    database: Database,
    kek: Kek,
    identity: Identity,
    tokens: Tokens,
    clock: Clock,
    closers: list[Any],
    metrics: Metrics,
) -> SharedSignals:
    outbound = HardenedHttpClient(outbound_policy(settings))
    closers.append(outbound.aclose)
    streams, queue = SqlSsfStreams(database, kek), SqlSetQueue(database)
    delivery = SsfDelivery(
        streams,
        queue,
        identity.keys,
        identity.tenants,
        identity.clients,
        tokens.id_tokens.subject,
        outbound,
        clock,
        max_attempts=settings.ssf_push_max_attempts,
        max_age=settings.ssf_push_max_age,
        retry_base=settings.ssf_push_retry_base,
        poll_max_wait=settings.ssf_poll_max_wait,
        lease=outbound_policy(settings).total_timeout + 5.0,
        metrics=metrics,
    )
    service = SsfStreamService(
        streams,
        queue,
        delivery,
        tokens.tokens,
        identity.clients,
        identity.tenants,
        outbound.check,
        clock,
        default_subjects=DefaultSubjects(settings.ssf_default_subjects),
        min_verification_interval=settings.ssf_min_verification_interval,
        inactivity_timeout=settings.ssf_inactivity_timeout,
    )
    return SharedSignals(service, delivery)


async def build_container(settings: Settings, *, clock: Clock | None = None, upgrade: bool = False) -> Container:
    """Settings -> adapters -> services, by area (each builder returns a frozen group); nothing is changed
    after it is built."""
    clock = clock or SystemClock()
    cache_fido2_type_hints()
    kek, notice = load_kek(settings)
    attestation_roots = load_attestation_roots(settings)
    keyring = TenantKeyring(kek)  # per-tenant HMAC subkeys, cached: one for the whole process
    if notice:
        write(LogEvent.KEK_GENERATED, notice=notice)
    try:
        database = Database.from_url(settings.effective_database_url)
    except ValueError as exc:
        raise ConfigurationError(f"invalid setting LUKHAS_ID_DATABASE_URL: {exc}") from None
    closers: list[Any] = []
    metrics = Metrics()
    try:
        await prepare_database(settings, database, upgrade=upgrade)
        await check_kek(database, kek)
        stores = build_stores(settings, database, clock, closers)
        identity = build_identity(settings, database, kek, clock)
        tokens = build_tokens(settings, stores, identity, keyring, metrics, clock)
        people = build_people(
            settings, database, kek, stores, identity, tokens, keyring, metrics, clock, attestation_roots
        )
        shared_signals = build_shared_signals(settings, database, kek, identity, tokens, clock, closers, metrics)
        relay = build_relay(settings, database, clock, metrics)
        if relay is not None:
            closers.append(relay.close)
    except BaseException:
        for closer in reversed(closers):
            await closer()
        await database.dispose()
        raise
    return Container(
        settings=settings,
        clock=clock,
        database=database,
        kek=kek,
        token_state=stores.token_state,
        kv=stores.kv,
        keys=identity.keys,
        tenants=identity.tenants,
        clients=identity.clients,
        tokens=tokens.tokens,
        users=identity.users,
        codes=tokens.codes,
        code_grant=tokens.code_grant,
        refresh=tokens.refresh,
        sessions=people.sessions,
        sign_in_limiter=people.sign_in_limiter,
        client_auth_limiter=tokens.client_auth_limiter,
        authorization=people.authorization,
        userinfo=people.userinfo,
        logout=people.logout,
        user_admin=people.user_admin,
        material=SqlEncryptedMaterial(database),
        registration=people.registration,
        totp=people.totp,
        recovery_codes=people.recovery_codes,
        account_recovery=people.account_recovery,
        metrics=metrics,
        pending_sign_ins=people.pending_sign_ins,
        keyring=keyring,
        passkeys=people.passkeys,
        sign_in=people.sign_in,
        audit=AuditService(SqlAuditStore(database), kek, clock),
        ssf=shared_signals.streams,
        ssf_delivery=shared_signals.delivery,
        outbox=SqlOutbox(database),
        relay=relay,
        grant_handlers=tokens.grant_handlers,
        events=identity.events,
        uow=identity.uow,
        client_authentication=tokens.client_authentication,
        oauth=tokens.oauth,
        _closers=closers,
    )
