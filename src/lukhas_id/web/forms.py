"""Forms posted by the pages (sign-in excepted): strict reading and single values, errors as pages."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request

from lukhas_id.protocol.oauth2.request import FORM_TYPE, parse_form
from lukhas_id.web.http_io import read_body

MAX_FORM: Final = 32 * 1024


class PageError(Exception):
    """Answer with the error page: `status` and a message that quotes no request data."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def read_form(request: Request) -> dict[str, list[str]]:
    mime, _, options = request.headers.get("content-type", "").partition(";")
    if mime.strip().lower() != FORM_TYPE:
        raise PageError(415, f"the form must be sent as {FORM_TYPE}")
    charset = options.strip().lower().replace(" ", "")
    if charset and charset not in {"charset=utf-8", 'charset="utf-8"'}:
        raise PageError(415, "the only accepted charset is UTF-8")
    declared = request.headers.get("content-length")
    return parse_form(await read_body(request.receive, declared.encode("latin-1") if declared else None, MAX_FORM))


def one(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name) or []
    if len(values) > 1:
        raise PageError(400, f"{name} is repeated")
    return values[0] if values else None
