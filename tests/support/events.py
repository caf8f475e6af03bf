"""Recording identity events in tests, and checking that none carries more than identifiers.

`ALLOWED_METADATA` is the allow-list of metadata keys per event type (docs/architecture.md has the same
table); `assert_clean` checks recorded events against it and against the private values of a test.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from lukhas_id.domain.events import CATALOGUE, EventType, IdentityEvent
from tests.support.harness import Harness

# The allow-list of metadata keys per event type: the catalogue's (domain/events.py), which the event guard
# also enforces when an event is made; checked here again for events recorded in tests.
ALLOWED_METADATA: Final[dict[EventType, frozenset[str]]] = {t: spec.keys for t, spec in CATALOGUE.items()}

_EMAIL: Final = re.compile(r"[^\s@]+@[^\s@]+")
_JWT: Final = re.compile(r"eyJ[A-Za-z0-9_-]+\.")


def recorder(h: Harness) -> list[IdentityEvent]:
    """Every event the harness's server publishes from now on, in order."""
    seen: list[IdentityEvent] = []

    async def record(event: IdentityEvent) -> None:
        seen.append(event)

    h.c.events.subscribe(record)
    return seen


def of(seen: Iterable[IdentityEvent], *kinds: EventType) -> list[IdentityEvent]:
    return [e for e in seen if e.type in kinds]


def assert_clean(seen: Iterable[IdentityEvent], *private: str) -> None:
    """Each event's metadata keys are in its type's allow-list, no value looks like an e-mail address or
    a JWT, and none of `private` (usernames, addresses, passwords, codes, tokens, credential ids) appears
    anywhere in the event."""
    for event in seen:
        assert set(event.metadata) <= ALLOWED_METADATA[event.type], event
        text = repr(event)
        assert not _EMAIL.search(text) and not _JWT.search(text), event
        for value in private:
            assert value and value not in text, (value, event)
