"""The form parser agrees with urllib's parse_qsl on everything parse_qsl accepts."""

from __future__ import annotations

import random
from urllib.parse import parse_qsl

import pytest

from lukhas_id.errors import OAuthError
from lukhas_id.protocol.oauth2.request import MAX_PARAMS, parse_form

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
