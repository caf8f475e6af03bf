"""The identity events reference (docs/events-reference.md), generated from the event catalogue.

Regenerate with `python -m lukhas_id.domain.events_reference > docs/events-reference.md`; a test fails when
the committed file is stale.
"""

from __future__ import annotations

from lukhas_id.domain.events import CATALOGUE, EventType


def _keys(keys: frozenset[str]) -> str:
    return ", ".join(f"`{k}`" for k in sorted(keys)) or "none"


def render() -> str:
    lines = [
        "# Identity events reference",
        "",
        "Generated from `domain/events.py` (`EventType` and `CATALOGUE`) by",
        "`python -m lukhas_id.domain.events_reference`; do not edit by hand.",
        "",
        "Every event has the same envelope (`IdentityEvent.as_dict()`, the payload of the outbox row, of the",
        "NATS message and of `lukhas-id events tail`):",
        "",
        "| field | what |",
        "|---|---|",
        "| `id` | a random UUID, unique per event: the de-duplication key (`Nats-Msg-Id`) |",
        "| `type` | one of the types below |",
        "| `time` | when it happened, seconds since the epoch |",
        "| `tenant` | the tenant's id |",
        "| `principal` | the principal's ΛID, or null |",
        "| `principal_type` | `USR`, `AGT`, `SVC` or `SYS`, read off the ΛID, or null |",
        "| `client_id` | the client concerned, where there is one (also in `metadata`) |",
        "| `trace_id` | the trace id of the request that caused it (the `X-Trace-Id` answer header), or null |",
        "| `metadata` | string values under the keys its type lists below, and no others |",
        "",
        "No event carries a secret or personal data: the guard in `domain/events.py` refuses, when an event is",
        "made, a metadata key that is not its type's, a key that names a secret (`password`, `token`, `code`,",
        "`email`, `ip`...), and any value holding an e-mail address, an IP address, a JWT, a PEM block or a",
        "secret-looking string. Warnings are logged at warning level; volatile events are logged and counted but",
        "never written to the outbox or the audit log.",
        "",
        "| type | meaning | emitted by | metadata | |",
        "|---|---|---|---|---|",
    ]
    for kind in sorted(EventType, key=lambda k: k.value):
        spec = CATALOGUE[kind]
        flags = ", ".join(f for f, on in (("warning", spec.warning), ("volatile", spec.volatile)) if on)
        lines.append(f"| `{kind.value}` | {spec.about} | {spec.source} | {_keys(spec.keys)} | {flags} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
