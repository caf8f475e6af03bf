"""Prometheus metrics: one registry per Container (no module-level globals), right with any number of
worker processes.

Labels are fixed, low-cardinality enums (a grant type, an error code, a reason, a ceremony kind): never a
user, client, IP address, credential id or token. Served as text at GET /metrics.

Several workers (`lukhas-id serve --workers N`): `serve` makes a fresh directory and calls
`use_multiprocess` before the workers start, so every metric value lives in a memory-mapped file per
process (prometheus-client's multiprocess mode); GET /metrics, answered by whichever worker the scrape
reached, adds up the files of every worker, so counters are complete and never go back. Without it (one
process, tests) the values live in the registry.

The process collector (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `process_open_fds`...,
read from /proc where there is one): of this process alone, or, with several workers, added up over every
live worker whose files are in the directory (`WorkersProcessCollector`): CPU seconds, memory and open
files summed, the earliest start time, the smallest file limit. A worker that is replaced takes its CPU
seconds with it, which Prometheus sees as a counter reset.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric
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


_PID_FILE: Final = re.compile(r"_(\d+)\.db$")
# How the process metrics of several workers add up into one series each.
_LEAST: Final = frozenset({"process_start_time_seconds", "process_max_fds"})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def worker_pids(directory: str) -> list[int]:
    """The live processes that keep metric files in `directory` (their names end in `_<pid>.db`)."""
    pids = {int(m.group(1)) for name in os.listdir(directory) if (m := _PID_FILE.search(name))}
    return sorted(pid for pid in pids if _alive(pid))


class WorkersProcessCollector:
    """The process metrics of every live worker (see the module docstring), one series per metric."""

    def __init__(self, directory: str) -> None:
        self._directory = directory

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for pid in worker_pids(self._directory):
            for metric in ProcessCollector(pid=lambda pid=pid: str(pid), registry=None).collect():  # type: ignore[misc]
                _merge(merged, metric)
        yield from merged.values()


def _merge(merged: dict[str, Metric], metric: Metric) -> None:
    into = merged.get(metric.name)
    if into is None:
        merged[metric.name] = metric
        return
    least = metric.name in _LEAST
    for i, sample in enumerate(metric.samples):
        mine = into.samples[i]
        value = min(mine.value, sample.value) if least else mine.value + sample.value
        into.samples[i] = mine._replace(value=value)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        if multiprocess_directory() is None:
            ProcessCollector(registry=self.registry)
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

        self.lid_generation = Counter(
            "identity_lid_generation",
            "ΛIDs generated by this server for new principals, by type (USR, AGT, SVC, SYS).",
            ["lid_type"],
            registry=self.registry,
        )
        self.auth_latency = Histogram(
            "identity_auth_latency_seconds",
            "How long a sign-in attempt took, whatever its outcome, by factor.",
            ["factor"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
        )
        self.sign_in = Counter(
            "identity_sign_in",
            "Sign-in attempts, by method (password, totp, recovery_code, passkey, step_up_totp, ...) and outcome "
            "(the identity event: user.signed_in, sign_in.refused, sign_in.throttled, ...).",
            ["method", "outcome"],
            registry=self.registry,
        )
        self.webauthn_registration = Counter(
            "identity_webauthn_registration",
            "Passkey registrations, by result (ok, failed).",
            ["result"],
            registry=self.registry,
        )
        self.active_signing_keys = Gauge(
            "identity_active_signing_keys",
            "Signing keys in the active state, over every tenant (as last counted by a worker).",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.event_outbox_backlog = Gauge(
            "identity_event_outbox_backlog",
            "Identity events committed to the outbox and not yet relayed (as last measured by the relay "
            "holding the lease).",
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.event_delivery_lag = Histogram(
            "identity_event_delivery_lag_seconds",
            "From an identity event's time to its acknowledgement by NATS JetStream (or its delivery to the "
            "in-process consumers).",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
        )
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests answered, by route template ('-' when no endpoint matched), method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Time from a request's arrival in the application to its answer's start, by route template.",
            ["route"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
        )
        # Shared Signals (docs/ssf.md): `method` is push or poll, `result` delivered, retry or failed.
        self.ssf_sets_queued = Gauge(
            "identity_ssf_sets_queued",
            "SETs waiting for delivery, by delivery method (push, poll), as last counted by a push worker.",
            ["method"],
            registry=self.registry,
            multiprocess_mode="mostrecent",
        )
        self.ssf_delivery = Counter(
            "identity_ssf_delivery",
            "SET delivery outcomes, by delivery method (push, poll) and result (delivered: a 202 or an "
            "acknowledgement; retry: tried again later; failed: given up or refused by the receiver).",
            ["method", "result"],
            registry=self.registry,
        )
        self.ssf_delivery_lag = Histogram(
            "identity_ssf_delivery_lag_seconds",
            "Time from the identity event to its SET's delivery (push: the receiver's 202; poll: its "
            "acknowledgement), by delivery method.",
            ["method"],
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
        )
        self._http: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request (web/app.py's response hook); the label children are made once per
        (route, method, status): routes are templates and methods a fixed set, so the table is bounded."""
        key = (route, method, status)
        children = self._http.get(key)
        if children is None:
            children = (self.http_requests.labels(route, method, str(status)), self.http_duration.labels(route))
            self._http[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        directory = multiprocess_directory()
        if directory is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]
        registry.register(WorkersProcessCollector(directory))
        return generate_latest(registry)
