"""observability/tracing.py without a collector: the API is a free no-op when tracing is off, the
settings refuse bad values in one line, and SQL spans are named by the statement's operation."""

from __future__ import annotations

import pytest

from lukhas_id.adapters.sql.spans import attributes, operation
from lukhas_id.errors import ConfigurationError
from lukhas_id.observability import tracing
from lukhas_id.observability.trace import TraceContext
from lukhas_id.settings import Settings, load_settings


def test_tracing_off_is_one_shared_no_op() -> None:
    assert not tracing.enabled()
    with tracing.span("anything", {"a": 1}, b="c") as span:
        span.set_attribute("x", 1)
        span.fail("Error")
    assert span is tracing.NO_SPAN
    assert tracing.span("other", child_only=True) is tracing.NO_SPAN
    assert tracing.start_span("anything") is None
    assert tracing.server_span("GET", TraceContext("a" * 32), "http", "1.1") is None
    assert tracing.start(Settings(otlp_endpoint=None)) is None


def test_a_block_that_raises_still_raises_through_the_no_op() -> None:
    with pytest.raises(ZeroDivisionError), tracing.span("x"):
        1 / 0  # noqa: B018


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT clients.id FROM clients WHERE clients.id = $1", "SELECT"),
        ("  insert into tokens values (?)", "INSERT"),
        ("(SELECT 1) UNION (SELECT 2)", "SELECT"),
        ("BEGIN IMMEDIATE", "BEGIN"),
        ("", "SQL"),
        ("123", "SQL"),
        ("SELECT_SOMETHING_WITH_A_VERY_LONG_NAME x", "SQL"),
    ],
)
def test_sql_span_names_are_the_operation(sql: str, expected: str) -> None:
    assert operation(sql) == expected


def test_sql_span_attributes_name_no_value() -> None:
    found = attributes("postgresql", "UPDATE users SET name = $1 WHERE id = 'literal'", "asyncpg")
    assert found == {"db.system": "postgresql", "db.operation": "UPDATE", "lukhas_id.db.lane": "asyncpg"}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        (
            "LUKHAS_ID_OTLP_ENDPOINT",
            "not a url",
            "invalid setting LUKHAS_ID_OTLP_ENDPOINT: input should be a valid url",
        ),
        ("LUKHAS_ID_OTLP_ENDPOINT", "ftp://collector:4318", "invalid setting LUKHAS_ID_OTLP_ENDPOINT: url scheme"),
        (
            "LUKHAS_ID_OTLP_ENDPOINT",
            "http://user:pw@collector:4318",
            "LUKHAS_ID_OTLP_ENDPOINT: value error, must be a base url without credentials",
        ),
        ("LUKHAS_ID_OTLP_ENDPOINT", "http://collector:4318/?a=1", "must be a base url without credentials, query"),
        (
            "LUKHAS_ID_TRACE_SAMPLE_RATIO",
            "1.5",
            "LUKHAS_ID_TRACE_SAMPLE_RATIO: input should be less than or equal to 1",
        ),
        ("LUKHAS_ID_TRACE_SAMPLE_RATIO", "-0.1", "LUKHAS_ID_TRACE_SAMPLE_RATIO: input should be greater than or equal"),
        ("LUKHAS_ID_TRACE_SAMPLE_RATIO", "half", "LUKHAS_ID_TRACE_SAMPLE_RATIO: input should be a valid number"),
        ("LUKHAS_ID_OTLP_TIMEOUT", "0", "LUKHAS_ID_OTLP_TIMEOUT: input should be greater than 0"),
    ],
)
def test_bad_tracing_settings_are_one_clean_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as err:
        load_settings()
    message = str(err.value)
    assert expected in message and "\n" not in message and "pw" not in message


def test_tracing_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LUKHAS_ID_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("LUKHAS_ID_TRACE_SAMPLE_RATIO", "0.25")
    settings = load_settings()
    assert str(settings.otlp_endpoint) == "http://127.0.0.1:4318/"
    assert settings.trace_sample_ratio == 0.25 and settings.otlp_timeout == 5.0


def test_tracing_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LUKHAS_ID_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("LUKHAS_ID_TRACE_SAMPLE_RATIO", raising=False)
    assert Settings().otlp_endpoint is None and Settings().trace_sample_ratio == 1.0
