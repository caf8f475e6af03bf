"""Features: which endpoints and grant handlers exist (checked only where they are assembled).

Each optional capability of ΛiD is one `Feature` with a status. Stable features are on unless the
operator lists them in `disabled_features`; experimental ones are off unless listed in
`experimental_features`. The composition root (bootstrap.py, and web/app.py for the endpoints) asks
`enabled_features(settings)` once and builds the grant table and the endpoint list from the answer;
nothing deeper checks a feature. Discovery, the JWKS, the token endpoint itself, health and metrics are
not features: they always exist.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class FeatureStatus(StrEnum):
    STABLE = "stable"
    EXPERIMENTAL = "experimental"


class Feature(StrEnum):
    CLIENT_CREDENTIALS = "client_credentials"  # RFC 6749 §4.4
    AUTHORIZATION_CODE = "authorization_code"  # RFC 6749 §4.1, OAuth 2.1 §4.1, with the sign-in pages
    REFRESH_TOKEN = "refresh_token"  # noqa: S105  (a feature name) RFC 6749 §6, OAuth 2.1 §4.3
    INTROSPECTION = "introspection"  # RFC 7662
    REVOCATION = "revocation"  # RFC 7009
    USERINFO = "userinfo"  # OIDC Core §5.3
    LOGOUT = "logout"  # OIDC RP-Initiated Logout 1.0
    DYNAMIC_REGISTRATION = "dynamic_registration"  # RFC 7591, RFC 7592
    PASSKEYS = "passkeys"  # WebAuthn L3
    SHARED_SIGNALS = "shared_signals"  # OpenID SSF 1.0 transmitter (CAEP 1.0, RISC 1.0)

    @property
    def status(self) -> FeatureStatus:
        return _STATUS.get(self, FeatureStatus.STABLE)

    @property
    def requires(self) -> frozenset[Feature]:
        """The features this one cannot work without."""
        return _REQUIRES.get(self, frozenset())


_STATUS: Final[dict[Feature, FeatureStatus]] = {}
_REQUIRES: Final[dict[Feature, frozenset[Feature]]] = {
    Feature.REFRESH_TOKEN: frozenset({Feature.AUTHORIZATION_CODE}),
    Feature.USERINFO: frozenset({Feature.AUTHORIZATION_CODE}),
    Feature.LOGOUT: frozenset({Feature.AUTHORIZATION_CODE}),
    Feature.PASSKEYS: frozenset({Feature.AUTHORIZATION_CODE}),
}


def resolve_features(disabled: tuple[Feature, ...], experimental: tuple[Feature, ...]) -> frozenset[Feature]:
    """The enabled features; ValueError naming the problem when the lists contradict each other."""
    for feature in experimental:
        if feature.status is not FeatureStatus.EXPERIMENTAL:
            raise ValueError(f"{feature.value} is not experimental (it is on unless disabled)")
    enabled = {f for f in Feature if f.status is FeatureStatus.STABLE} | set(experimental)
    enabled -= set(disabled)
    for feature in sorted(enabled):
        missing = feature.requires - enabled
        if missing:
            names = ", ".join(sorted(m.value for m in missing))
            raise ValueError(f"{feature.value} needs {names}, which is disabled")
    return frozenset(enabled)
