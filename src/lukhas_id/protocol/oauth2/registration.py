"""Dynamic client registration: RFC 7591 §2 (client metadata), §3.2 (responses and errors) and RFC 7592 §2.2
(update requests). Pure: JSON parsing and metadata checks, no storage.

Supported metadata: redirect_uris, grant_types, response_types (["code"] only), token_endpoint_auth_method
(client_secret_basic, client_secret_post, none), client_name, scope, post_logout_redirect_uris,
id_token_signed_response_alg, subject_type. Key material (jwks, jwks_uri) and software statements are
refused rather than ignored: a client relying on them would otherwise be registered without them. Other
unknown members are ignored (RFC 7591 §2). The checks a client created by an operator also goes through
(redirect URI rules, ID token algorithms, grant combinations) stay in ClientService.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from lukhas_id.domain.client import Client, ClientAuthMethod, GrantType, SubjectType
from lukhas_id.protocol.oauth2.scope import valid_scope_token

MAX_BODY: Final = 64 * 1024
MAX_URIS: Final = 50
DEFAULT_NAME: Final = "dynamically registered client"
# RFC 7592 §2.2: values the server issues, never sent back in an update request.
SERVER_ISSUED: Final = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)


class RegistrationErrorCode(StrEnum):
    """RFC 7591 §3.2.2 error codes (and RFC 6749 invalid_request for an unreadable request)."""

    INVALID_REQUEST = "invalid_request"
    INVALID_REDIRECT_URI = "invalid_redirect_uri"
    INVALID_CLIENT_METADATA = "invalid_client_metadata"
    INVALID_SOFTWARE_STATEMENT = "invalid_software_statement"


class RegistrationError(Exception):
    """An RFC 7591 §3.2.2 error; `description` is safe to show (no submitted values echoed)."""

    def __init__(self, code: RegistrationErrorCode, description: str, status: int = 400) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.status = status


def _metadata_error(description: str) -> RegistrationError:
    return RegistrationError(RegistrationErrorCode.INVALID_CLIENT_METADATA, description)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise RegistrationError(RegistrationErrorCode.INVALID_REQUEST, "a JSON member is repeated")
        result[name] = value
    return result


def _no_constants(name: str) -> Any:
    raise RegistrationError(RegistrationErrorCode.INVALID_REQUEST, "NaN and Infinity are not JSON")


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object: strict UTF-8, no repeated members, no NaN/Infinity."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RegistrationError(RegistrationErrorCode.INVALID_REQUEST, "the body is not valid UTF-8") from None
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except RecursionError:
        raise RegistrationError(RegistrationErrorCode.INVALID_REQUEST, "the JSON is nested too deeply") from None
    except ValueError:
        raise RegistrationError(RegistrationErrorCode.INVALID_REQUEST, "the body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise RegistrationError(RegistrationErrorCode.INVALID_REQUEST, "the body must be a JSON object")
    return doc


@dataclass(frozen=True, slots=True)
class ClientMetadata:
    """Registered metadata, defaults applied (RFC 7591 §2)."""

    redirect_uris: tuple[str, ...]
    grant_types: frozenset[GrantType]
    token_endpoint_auth_method: ClientAuthMethod
    client_name: str
    scopes: frozenset[str]
    post_logout_redirect_uris: tuple[str, ...]
    id_token_signed_response_alg: str
    subject_type: SubjectType

    @property
    def public(self) -> bool:
        return self.token_endpoint_auth_method is ClientAuthMethod.NONE


def _string(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _metadata_error(f"{name} must be a non-empty string")
    return value


def _strings(doc: dict[str, Any], name: str) -> tuple[str, ...] | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _metadata_error(f"{name} must be an array of non-empty strings")
    if len(value) > MAX_URIS:
        raise _metadata_error(f"{name} has more than {MAX_URIS} values")
    return tuple(dict.fromkeys(value))


def parse_metadata(doc: dict[str, Any]) -> ClientMetadata:
    """Client metadata of a registration (RFC 7591 §2) or update (RFC 7592 §2.2) request."""
    if "software_statement" in doc:
        raise RegistrationError(
            RegistrationErrorCode.INVALID_SOFTWARE_STATEMENT, "software statements are not supported"
        )
    if "jwks" in doc or "jwks_uri" in doc:
        raise _metadata_error("client key sets (jwks, jwks_uri) are not supported")
    grant_names = _strings(doc, "grant_types")
    grants: set[GrantType] = set()
    for name in grant_names if grant_names is not None else (GrantType.AUTHORIZATION_CODE.value,):
        try:
            grants.add(GrantType(name))
        except ValueError:
            raise _metadata_error(
                "supported grant_types: authorization_code, client_credentials, refresh_token"
            ) from None
    response_types = _strings(doc, "response_types")
    if response_types is not None and not set(response_types) <= {"code"}:
        raise _metadata_error('the only supported response_types value is "code"')
    redirect_based = GrantType.AUTHORIZATION_CODE in grants
    if response_types is not None and bool(response_types) != redirect_based:
        raise _metadata_error('response_types "code" goes with the authorization_code grant, and only with it')
    method_name = _string(doc, "token_endpoint_auth_method") or ClientAuthMethod.CLIENT_SECRET_BASIC.value
    try:
        method = ClientAuthMethod(method_name)
    except ValueError:
        raise _metadata_error(
            "supported token_endpoint_auth_method values: client_secret_basic, client_secret_post, none"
        ) from None
    scope_text = doc.get("scope")
    if scope_text is None:
        scopes = frozenset({"openid"}) if redirect_based else frozenset()
    elif not isinstance(scope_text, str):
        raise _metadata_error("scope must be a string")
    else:
        tokens = scope_text.split(" ") if scope_text else []
        if any(not valid_scope_token(t) for t in tokens):
            raise _metadata_error("scope must be a space-separated list of scope tokens")
        scopes = frozenset(tokens)
    subject = _string(doc, "subject_type") or SubjectType.PUBLIC.value
    try:
        subject_type = SubjectType(subject)
    except ValueError:
        raise _metadata_error("subject_type must be public or pairwise") from None
    return ClientMetadata(
        redirect_uris=_strings(doc, "redirect_uris") or (),
        grant_types=frozenset(grants),
        token_endpoint_auth_method=method,
        client_name=_string(doc, "client_name") or DEFAULT_NAME,
        scopes=scopes,
        post_logout_redirect_uris=_strings(doc, "post_logout_redirect_uris") or (),
        id_token_signed_response_alg=_string(doc, "id_token_signed_response_alg") or "RS256",
        subject_type=subject_type,
    )


def check_update_request(doc: dict[str, Any], client_id: str) -> None:
    """RFC 7592 §2.2: the body names the client; server-issued values are not sent back."""
    if doc.get("client_id") != client_id:
        raise RegistrationError(RegistrationErrorCode.INVALID_REQUEST, "client_id must be the registered client's")
    sent = [name for name in SERVER_ISSUED if name in doc]
    if sent:
        raise RegistrationError(RegistrationErrorCode.INVALID_REQUEST, f"{sent[0]} must not be sent in an update")
    if "client_secret" in doc and not isinstance(doc["client_secret"], str):
        raise _metadata_error("client_secret must be a string")


def registered_metadata(client: Client) -> dict[str, Any]:
    """The client information response members (RFC 7591 §3.2.1), secrets and tokens excepted."""
    redirect_based = GrantType.AUTHORIZATION_CODE in client.grant_types
    info: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at),
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "grant_types": sorted(client.grant_types),
        "response_types": ["code"] if redirect_based else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method.value,
        "scope": " ".join(sorted(client.scopes)),
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris),
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "subject_type": client.subject_type.value,
    }
    if not client.public:
        info["client_secret_expires_at"] = 0
    return info
