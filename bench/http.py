"""A few plain HTTP calls outside the measured runs: one token to introspect, sample checks of a token list."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

from bench.procs import BenchError


def post_form(url: str, authorization: str, form: dict[str, str], timeout: float = 10.0) -> tuple[int, Any]:
    data = urllib.parse.urlencode(form).encode()
    req = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Authorization": authorization, "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, body.decode(errors="replace")


def mint_token(token_url: str, authorization: str) -> str:
    status, body = post_form(token_url, authorization, {"grant_type": "client_credentials", "scope": "api:read"})
    if status != 200 or not isinstance(body, dict) or "access_token" not in body:
        raise BenchError(f"token request to {token_url} failed: {status} {body!r}")
    token: str = body["access_token"]
    return token


def count_active(introspection_url: str, authorization: str, tokens: Iterable[str]) -> tuple[int, int]:
    """(active, not active) over tokens, by RFC 7662 introspection."""
    active = inactive = 0
    for token in tokens:
        status, body = post_form(introspection_url, authorization, {"token": token, "token_type_hint": "access_token"})
        if status == 200 and isinstance(body, dict) and body.get("active") is True:
            active += 1
        else:
            inactive += 1
    return active, inactive
