"""The neutral request of OAuth endpoints, and single-parameter rules: RFC 6749 §3.1/§3.2, OAuth 2.1 §3.2.

The web edge (web/http_io.py) turns an HTTP request into a `FormRequest`; protocol code reads it here.
Empty values count as absent; a repeated parameter is `invalid_request` unless the extension allows
repeats (RFC 8707 `resource`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lukhas_id.errors import ErrorCode, OAuthError


@dataclass(frozen=True, slots=True)
class FormRequest:
    """A form-encoded POST to an OAuth endpoint: its parameters and its Authorization header."""

    params: dict[str, list[str]]
    authorization: str | None

    def single(self, name: str) -> str | None:
        """The parameter's value; None when absent or empty; invalid_request when repeated."""
        values = self.params.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise OAuthError(ErrorCode.INVALID_REQUEST, f"parameter {name} is repeated")
        return values[0] or None

    def required(self, name: str) -> str:
        value = self.single(name)
        if value is None:
            raise OAuthError(ErrorCode.INVALID_REQUEST, f"missing parameter {name}")
        return value

    def many(self, name: str) -> list[str]:
        """Every non-empty value of a parameter that may repeat (RFC 8707 `resource`)."""
        return [v for v in self.params.get(name, ()) if v]
