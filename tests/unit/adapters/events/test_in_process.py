"""The log subscriber (adapters/events/in_process.py): one line per event type, with its metadata as `extra`."""

from __future__ import annotations

import logging

import pytest

from lukhas_id.adapters.events.in_process import log_event
from lukhas_id.domain.events import LOG_TEXT, WARNINGS, EventType, IdentityEvent
from tests.support.events import ALLOWED_METADATA


def test_every_event_type_has_a_log_line_and_an_allowed_metadata_list() -> None:
    assert set(LOG_TEXT) == set(EventType) == set(ALLOWED_METADATA)
    assert EventType.PASSKEY_CLONE_SUSPECTED in WARNINGS


@pytest.mark.parametrize("kind", list(EventType))
async def test_the_log_subscriber_writes_each_type_with_all_its_keys(
    kind: EventType, caplog: pytest.LogCaptureFixture
) -> None:
    """Every allowed key reaches the line as an attribute: none is the name of a LogRecord attribute
    (logging refuses an `extra` that would overwrite one)."""
    caplog.set_level(logging.INFO, logger="lukhas_id.events")
    metadata = {key: f"value-of-{key}" for key in ALLOWED_METADATA[kind]}
    await log_event(IdentityEvent(kind, "t1", "USR-1", 1000.0, metadata=metadata))
    [record] = caplog.records
    assert record.getMessage() == LOG_TEXT[kind]
    assert record.levelno == (logging.WARNING if kind in WARNINGS else logging.INFO)
    fields = record.fields  # type: ignore[attr-defined]
    assert (record.event, fields["tenant_id"], fields["principal"]) == (kind.value, "t1", "USR-1")  # type: ignore[attr-defined]
    assert all(fields[key] == value for key, value in metadata.items())
