"""The form parser agrees with urllib's parse_qsl on everything parse_qsl accepts; the body reader checks
the declared media type before it reads a byte."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest

from lukhas_id.errors import OAuthError
from lukhas_id.protocol.oauth2.request import MAX_PARAMS, parse_form
from lukhas_id.web.http_io import JSON_TYPE, EdgeConfig, read_message

CASES = [
    "",
    "a=1",
    "a=1&b=2&a=3",
    "a=&b",
    "&&a=1&&",
    "a=%20x+y%2B",
    "scope=api%3Aread+api%3Awrite",
    "k%3D=v%26w",
    "a=%zz",
    "name=%E2%82%AC",
    "=v",
]


def _reference(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, errors="strict"):
        out.setdefault(name, []).append(value)
    return out


@pytest.mark.parametrize("text", CASES)
def test_matches_parse_qsl(text: str) -> None:
    assert parse_form(text.encode()) == _reference(text)


def test_matches_parse_qsl_on_random_input() -> None:
    rng = random.Random(7)
    alphabet = "ab=&%+2F0x;é "
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        try:
            expected = _reference(text)
        except UnicodeDecodeError:
            with pytest.raises(OAuthError):
                parse_form(text.encode())
            continue
        if any("\x00" in k or any("\x00" in v for v in vs) for k, vs in expected.items()):
            continue
        assert parse_form(text.encode()) == expected, text


@pytest.mark.parametrize("body", [b"a=\xff", b"a=%ff", b"%c3%28=1", b"a=%00", b"a\x00=1"])
def test_bad_bytes_are_invalid_request(body: bytes) -> None:
    with pytest.raises(OAuthError) as err:
        parse_form(body)
    assert err.value.code == "invalid_request"


def test_parameter_count_limit() -> None:
    assert len(parse_form("&".join(f"p{i}=1" for i in range(MAX_PARAMS)).encode())) == MAX_PARAMS
    with pytest.raises(OAuthError):
        parse_form("&".join(f"p{i}=1" for i in range(MAX_PARAMS + 1)).encode())


# --- the body reader (read_message) ------------------------------------------------------------------


def _scope(headers: list[tuple[bytes, bytes]]) -> dict[str, object]:
    return {"type": "http", "method": "POST", "headers": headers, "client": ("192.0.2.1", 50000)}


async def _no_body() -> dict[str, object]:
    raise AssertionError("the body was read")


async def _body() -> dict[str, object]:
    return {"type": "http.request", "body": b"{}", "more_body": False}


@pytest.mark.parametrize(
    ("headers", "description"),
    [
        ([], "Content-Type must be application/json"),
        ([(b"content-type", b"text/plain")], "Content-Type must be application/json"),
        ([(b"content-type", b"application/json; charset=latin-1")], "the only accepted charset is UTF-8"),
        ([(b"content-type", b"application/json")] * 2, "repeated Content-Type header"),
    ],
)
async def test_the_media_type_is_refused_before_the_body_is_read(
    headers: list[tuple[bytes, bytes]], description: str
) -> None:
    headers = [*headers, (b"content-length", b"999999999")]
    with pytest.raises(OAuthError) as err:
        await read_message(_scope(headers), _no_body, EdgeConfig(1024), None, "/x", media_type=JSON_TYPE)
    assert (err.value.code, err.value.status, err.value.description) == ("invalid_request", 400, description)


@pytest.mark.parametrize(
    "content_type", [b"application/json", b'Application/JSON ; charset="UTF-8"', b"application/json;charset=utf-8"]
)
async def test_the_declared_media_type_passes(content_type: bytes) -> None:
    scope = _scope([(b"content-type", content_type)])
    message = await read_message(scope, _body, EdgeConfig(1024), "acme", "/x", media_type=JSON_TYPE)
    assert (message.body, message.tenant, message.peer) == (b"{}", "acme", "192.0.2.1")


async def test_without_a_media_type_any_content_type_is_read() -> None:
    scope = _scope([(b"content-type", b"text/plain"), (b"content-type", b"text/html")])
    message = await read_message(scope, _body, EdgeConfig(1024), None, "/x")
    assert message.headers["content-type"] == ("text/plain", "text/html")
