"""Every HTTP endpoint of ΛiD, declared once (web/registry.py says what is generated from the list).

Paths are within a tenant: the default tenant serves them at the root, tenant T under /t/T. The
discovery members of an endpoint are read when a tenant's document is first built (the grant and
client authentication tables live in the Container, made at start).

This is the web layer's composition: the only module that turns the application state into the
providers (web/providers.py) and settings values that the route factories and the page toolkit take.
"""

from __future__ import annotations

from typing import Any

from lukhas_id.features import Feature
from lukhas_id.web.http_io import EdgeConfig
from lukhas_id.web.page_kit import PageKit
from lukhas_id.web.pages import Pages
from lukhas_id.web.registry import EndpointSpec, discovery_members, enabled
from lukhas_id.web.routes import (
    account,
    authorize,
    discovery,
    health,
    login,
    logout,
    metrics,
    oauth,
    registration,
    ssf,
    userinfo,
    webauthn,
)
from lukhas_id.web.state import AppState
from lukhas_id.web.step_up import StepUp

POST = ("POST",)
GET = ("GET",)


def declare(state: AppState) -> list[EndpointSpec]:
    """The enabled endpoints, in the order of the discovery document's members."""
    settings = state.settings
    edge = EdgeConfig.from_settings(settings)
    kit = PageKit(
        tenants=lambda: state.c.tenants,
        sessions=lambda: state.c.sessions,
        keyring=lambda: state.c.keyring,
        pages=Pages(settings.issuer),
        edge=edge,
        public_url=str(settings.public_url),
        secure_cookies=settings.public_url.scheme == "https",
        default_tenant=settings.default_tenant,
    )
    step_up = StepUp(
        clock=lambda: state.c.clock,
        passkeys=lambda: state.c.passkeys,
        sign_in=lambda: state.c.sign_in,
        max_age=settings.step_up_max_age,
        acr_mfa=settings.acr_mfa,
    )
    sign_in_pages = login.login(kit, lambda: state.c.sign_in, lambda: state.c.authorization)
    specs: list[EndpointSpec] = []

    def members(issuer: str) -> dict[str, Any]:
        return discovery_members(specs, issuer)

    def methods(*, credential_only: bool = False) -> list[str]:
        authn = state.c.client_authentication
        return [m.value for m in (authn.credential_methods if credential_only else authn.methods)]

    def authorization_members(issuer: str) -> dict[str, Any]:
        return {
            "authorization_endpoint": f"{issuer}/oauth2/authorize",
            **discovery.AUTHORIZATION_SUPPORT,
            # OIDC Discovery §3, RFC 9470 §7: the sign-in levels, weakest first (domain/authn.py).
            "acr_values_supported": settings.acr_names.supported(),
        }

    metadata = discovery.metadata(lambda: state.c.tenants, members, settings.jwks_max_age)
    tenants_of = lambda: state.c.tenants  # noqa: E731
    streams_of = lambda: state.c.ssf  # noqa: E731

    def ssf_api(name: str, path: str, methods: tuple[str, ...], action: ssf.Action) -> EndpointSpec:
        handler = ssf.management(tenants_of, streams_of, edge, path, action)
        return EndpointSpec(name, path, methods, handler, feature=Feature.SHARED_SIGNALS)

    ssf_configuration = ssf.configuration(tenants_of, streams_of)
    declared = [
        EndpointSpec("health", "/healthz", GET, health.healthz, per_tenant=False),
        EndpointSpec(
            "ready",
            "/readyz",
            GET,
            health.readyz(
                lambda: state.c.database,
                lambda: state.c.token_state,
                "redis" if settings.redis_url else "token_state",
                lambda: state.c.tenants,
                lambda: state.c.keys,
            ),
            per_tenant=False,
        ),
        EndpointSpec("metrics", "/metrics", GET, metrics.metrics(lambda: state.c.metrics), per_tenant=False),
        EndpointSpec(
            "metadata-path-inserted",
            "/.well-known/oauth-authorization-server/t/{tenant}",
            GET,
            metadata,
            per_tenant=False,
        ),
        EndpointSpec(
            "metadata",
            "/.well-known/openid-configuration",
            GET,
            metadata,
            extra_paths=("/.well-known/oauth-authorization-server",),
        ),
        EndpointSpec(
            "authorize",
            "/oauth2/authorize",
            ("GET", "POST"),
            authorize.authorize(kit, lambda: state.c.authorization),
            feature=Feature.AUTHORIZATION_CODE,
            discovery=authorization_members,
        ),
        EndpointSpec(
            "token",
            oauth.TOKEN_PATH,
            POST,
            oauth.token(lambda: state.c.oauth, edge),
            fast=True,
            discovery=lambda issuer: {
                "token_endpoint": f"{issuer}{oauth.TOKEN_PATH}",
                "grant_types_supported": [g.value for g in state.c.oauth.grant_types],
                "token_endpoint_auth_methods_supported": methods(),
            },
        ),
        EndpointSpec(
            "userinfo",
            userinfo.USERINFO_PATH,
            ("GET", "POST", "OPTIONS"),
            userinfo.userinfo(lambda: state.c.tenants, lambda: state.c.userinfo, edge),
            feature=Feature.USERINFO,
            discovery=lambda issuer: {"userinfo_endpoint": f"{issuer}{userinfo.USERINFO_PATH}"},
        ),
        EndpointSpec(
            "jwks",
            "/.well-known/jwks.json",
            GET,
            discovery.jwks(lambda: state.c.tenants, lambda: state.c.keys, settings.jwks_max_age),
            discovery=lambda issuer: {"jwks_uri": f"{issuer}/.well-known/jwks.json"},
        ),
        EndpointSpec(
            "introspection",
            oauth.INTROSPECTION_PATH,
            POST,
            oauth.introspect(lambda: state.c.oauth, edge),
            fast=True,
            feature=Feature.INTROSPECTION,
            discovery=lambda issuer: {
                "introspection_endpoint": f"{issuer}{oauth.INTROSPECTION_PATH}",
                "introspection_endpoint_auth_methods_supported": methods(credential_only=True),
            },
        ),
        EndpointSpec(
            "revocation",
            oauth.REVOCATION_PATH,
            POST,
            oauth.revoke(lambda: state.c.oauth, edge),
            fast=True,
            feature=Feature.REVOCATION,
            discovery=lambda issuer: {
                "revocation_endpoint": f"{issuer}{oauth.REVOCATION_PATH}",
                "revocation_endpoint_auth_methods_supported": methods(),
            },
        ),
        EndpointSpec(
            "logout",
            "/oauth2/logout",
            ("GET", "POST"),
            logout.logout(kit, lambda: state.c.logout, lambda: state.c.refresh),
            feature=Feature.LOGOUT,
            discovery=lambda issuer: {"end_session_endpoint": f"{issuer}/oauth2/logout"},
        ),
        EndpointSpec(
            "registration",
            registration.REGISTER_PATH,
            POST,
            registration.register(lambda: state.c.tenants, lambda: state.c.registration, edge),
            feature=Feature.DYNAMIC_REGISTRATION,
            discovery=lambda issuer: {"registration_endpoint": f"{issuer}{registration.REGISTER_PATH}"},
        ),
        EndpointSpec(
            "registration-management",
            registration.REGISTER_PATH + "/{client_id}",
            ("GET", "PUT", "DELETE"),
            registration.manage(lambda: state.c.tenants, lambda: state.c.registration, edge),
            feature=Feature.DYNAMIC_REGISTRATION,
        ),
        EndpointSpec("login", "/login", ("GET", "POST"), sign_in_pages, feature=Feature.AUTHORIZATION_CODE),
        EndpointSpec(
            "login-second-factor",
            "/login/second-factor",
            POST,
            sign_in_pages,
            feature=Feature.AUTHORIZATION_CODE,
        ),
        EndpointSpec(
            "login-recover", "/login/recover", ("GET", "POST"), sign_in_pages, feature=Feature.AUTHORIZATION_CODE
        ),
        EndpointSpec(
            "authorize-resume",
            "/oauth2/authorize/resume",
            GET,
            authorize.resume(kit, lambda: state.c.authorization),
            feature=Feature.AUTHORIZATION_CODE,
        ),
        EndpointSpec(
            "consent",
            "/oauth2/consent",
            POST,
            authorize.consent(kit, lambda: state.c.authorization),
            feature=Feature.AUTHORIZATION_CODE,
        ),
        EndpointSpec(
            "account",
            "/account",
            ("GET", "POST"),
            account.account(
                kit,
                step_up,
                logout=lambda: state.c.logout,
                passkeys=lambda: state.c.passkeys,
                totp=lambda: state.c.totp,
                recovery_codes=lambda: state.c.recovery_codes,
                refresh=lambda: state.c.refresh,
                users=lambda: state.c.users,
                sign_in=lambda: state.c.sign_in,
            ),
            feature=Feature.AUTHORIZATION_CODE,
        ),
        EndpointSpec(
            "passkey-register-begin",
            "/webauthn/register/begin",
            POST,
            webauthn.register_begin(kit, step_up, lambda: state.c.passkeys),
            fast=True,
            feature=Feature.PASSKEYS,
        ),
        EndpointSpec(
            "passkey-register-complete",
            "/webauthn/register/complete",
            POST,
            webauthn.register_complete(kit, lambda: state.c.passkeys),
            fast=True,
            feature=Feature.PASSKEYS,
        ),
        EndpointSpec(
            "passkey-authenticate-begin",
            "/webauthn/authenticate/begin",
            POST,
            webauthn.authenticate_begin(kit, lambda: state.c.passkeys),
            fast=True,
            feature=Feature.PASSKEYS,
        ),
        EndpointSpec(
            "passkey-authenticate-complete",
            "/webauthn/authenticate/complete",
            POST,
            webauthn.authenticate_complete(kit, lambda: state.c.sign_in),
            fast=True,
            feature=Feature.PASSKEYS,
        ),
        EndpointSpec(
            "ssf-configuration",
            ssf.CONFIGURATION_PATH,
            GET,
            ssf_configuration,
            feature=Feature.SHARED_SIGNALS,
        ),
        EndpointSpec(
            "ssf-configuration-path-inserted",
            ssf.CONFIGURATION_PATH + "/t/{tenant}",
            GET,
            ssf_configuration,
            per_tenant=False,
            feature=Feature.SHARED_SIGNALS,
        ),
        ssf_api("ssf-streams", ssf.STREAMS_PATH, ("GET", "POST", "PATCH", "PUT", "DELETE"), ssf.streams_action),
        ssf_api("ssf-status", ssf.STATUS_PATH, ("GET", "POST"), ssf.status_action),
        ssf_api("ssf-add-subject", ssf.ADD_SUBJECT_PATH, POST, ssf.add_subject_action),
        ssf_api("ssf-remove-subject", ssf.REMOVE_SUBJECT_PATH, POST, ssf.remove_subject_action),
        ssf_api("ssf-verify", ssf.VERIFY_PATH, POST, ssf.verify_action),
        EndpointSpec(
            "ssf-poll",
            ssf.POLL_PATH,
            POST,
            ssf.poll(tenants_of, streams_of, lambda: state.c.ssf_delivery, edge),
            feature=Feature.SHARED_SIGNALS,
        ),
    ]
    specs.extend(enabled(declared, settings.features))
    return specs
