"""Prometheus metrics of one ΛiD process: one registry per Container (no module-level globals).

Labels are fixed, low-cardinality enums (a reason, a ceremony kind): never a user, client, IP address,
credential id or token. Served as text at GET /metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.rate_limit_blocks = Counter(
            "identity_rate_limit_blocks",
            "Requests refused by a rate limit (HTTP 429), by limit.",
            ["limit"],
            registry=self.registry,
        )
        self.webauthn_ceremonies = Counter(
            "identity_webauthn_ceremonies",
            "Completed WebAuthn ceremonies, by kind (registration, authentication) and outcome (ok, failed).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.webauthn_attestation_failures = Counter(
            "identity_webauthn_attestation_failures",
            "Registrations refused because the attestation statement failed verification or policy.",
            registry=self.registry,
        )
        self.webauthn_clone_signals = Counter(
            "identity_webauthn_clone_signals",
            "Assertions refused because the signature counter did not increase (possible cloned credential).",
            registry=self.registry,
        )
        self.second_factor_failures = Counter(
            "identity_second_factor_failures",
            "Failed second-factor checks, by factor (totp, recovery_code, account_recovery).",
            ["factor"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
