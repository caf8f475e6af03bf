"""Prometheus metrics: one registry per Container (no module-level globals), right with any number of
worker processes.

Labels are fixed, low-cardinality enums (a grant type, an error code, a reason, a ceremony kind): never a
user, client, IP address, credential id or token. Served as text at GET /metrics.

Several workers (`lukhas-id serve --workers N`): `serve` makes a fresh directory and calls
`use_multiprocess` before the workers start, so every metric value lives in a memory-mapped file per
process (prometheus-client's multiprocess mode); GET /metrics, answered by whichever worker the scrape
reached, adds up the files of every worker, so counters are complete and never go back. Without it (one
process, tests) the values live in the registry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from prometheus_client import CollectorRegistry, Counter, generate_latest, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROCESS_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"


def use_multiprocess(directory: Path) -> None:
    """Keep this process's metric values, and those of the processes it starts, in `directory` (which
    must be empty and private to one server). Call before any Container (and its metrics) is made: the
    value class is chosen when a metric is created; the environment variable tells forked or spawned
    workers, and the /metrics handler, where the files are."""
    os.environ[MULTIPROCESS_ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]


def multiprocess_directory() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


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

        self.token_issuance = Counter(
            "identity_oidc_token_issuance",
            "Token endpoint answers, by grant type (or 'other') and result ('issued' or the RFC 6749 error code).",
            ["grant", "result"],
            registry=self.registry,
        )
        self.token_introspection = Counter(
            "identity_token_introspection",
            "Successful introspection answers, by whether the token was active.",
            ["active"],
            registry=self.registry,
        )
        self.token_revocation = Counter(
            "identity_token_revocation",
            "Successful revocation requests (RFC 7009 answers 200 for unknown tokens too).",
            registry=self.registry,
        )

    def render(self) -> bytes:
        directory = multiprocess_directory()
        if directory is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
