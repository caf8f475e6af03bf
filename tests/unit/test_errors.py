"""Typed storage failures (errors.py): what the web edge answers 503 for, and how the domain errors relate."""

from __future__ import annotations

import pytest

from lukhas_id.domain.user import UsernameTaken
from lukhas_id.errors import AlreadyExists, Conflict, LukhasIdError, StoreUnavailable, is_unavailable


@pytest.mark.parametrize(
    "exc",
    [StoreUnavailable("database"), ConnectionRefusedError(), ConnectionError("down"), TimeoutError(), OSError()],
)
def test_outages_are_unavailable(exc: Exception) -> None:
    assert is_unavailable(exc)


@pytest.mark.parametrize(
    "exc", [Conflict("lost a race"), AlreadyExists("taken"), RuntimeError("a bug"), ValueError(), KeyError("k")]
)
def test_conflicts_and_bugs_are_not(exc: Exception) -> None:
    assert not is_unavailable(exc)


def test_a_taken_name_is_a_conflict_and_a_domain_error_an_outage_is_neither() -> None:
    assert issubclass(AlreadyExists, Conflict) and issubclass(UsernameTaken, AlreadyExists)
    assert issubclass(Conflict, LukhasIdError)
    assert not issubclass(StoreUnavailable, LukhasIdError | Conflict)  # `except LukhasIdError` never hides one


def test_the_message_names_the_store_and_the_reason_only() -> None:
    exc = StoreUnavailable("Redis", "ConnectionError")
    assert (str(exc), exc.store) == ("Redis unavailable (ConnectionError)", "Redis")
    assert str(StoreUnavailable("database")) == "database unavailable"
