"""Request bodies of the pages and the passkey endpoints: the one place they are read.

A form (``application/x-www-form-urlencoded``, strict UTF-8: protocol/oauth2/request.py `parse_form`) or
a JSON object (``application/json``), UTF-8 only, bounded while it is read (413 beyond the limit,
web/http_io.py `read_body`). Anything else is refused with a PageError (415 for the media type, 400 for
the content), which pages answer with the error page and the passkey endpoints as JSON. Fields are read
one at a time: repeated is 400, and a required field that is absent is 400.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from starlette.requests import Request

from lukhas_id.protocol.oauth2.request import FORM_TYPE, parse_form
from lukhas_id.web.http_io import read_body
from lukhas_id.web.pages import PageError

MAX_FORM: Final = 32 * 1024
JSON_TYPE: Final = "application/json"
_UTF8: Final = frozenset({"", "charset=utf-8", 'charset="utf-8"'})


async def _body(request: Request, media_type: str, limit: int, refusal: str) -> bytes:
    """The body of a request that declares `media_type` (else 415 with `refusal`), at most `limit` bytes."""
    mime, _, options = request.headers.get("content-type", "").partition(";")
    if mime.strip().lower() != media_type:
        raise PageError(415, refusal)
    if options.strip().lower().replace(" ", "") not in _UTF8:
        raise PageError(415, "the only accepted charset is UTF-8")
    declared = request.headers.get("content-length")
    return await read_body(request.receive, declared.encode("latin-1") if declared is not None else None, limit)


async def read_form(request: Request, limit: int = MAX_FORM) -> dict[str, list[str]]:
    """The posted form's fields (each a list of its values)."""
    return parse_form(await _body(request, FORM_TYPE, limit, f"the form must be sent as {FORM_TYPE}"))


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """The posted JSON object."""
    body = await _body(request, JSON_TYPE, limit, f"Content-Type must be {JSON_TYPE}")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise PageError(400, "the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise PageError(400, "the body must be a JSON object")
    return data


def one(params: dict[str, list[str]], name: str) -> str | None:
    """The field's value, or None when it is absent; 400 when it is repeated."""
    values = params.get(name) or []
    if len(values) > 1:
        raise PageError(400, f"{name} is repeated")
    return values[0] if values else None


def required(params: dict[str, list[str]], name: str) -> str:
    """The field's value (possibly empty); 400 when it is absent or repeated."""
    value = one(params, name)
    if value is None:
        raise PageError(400, f"{name} is missing")
    return value
