"""The SSF stream management API's requests and documents: OpenID SSF 1.0 §8.1.1 (configuration: create,
read, update, replace, delete), §8.1.2 (status), §8.1.3 (subjects), §8.1.4.2 (verification).

Pure: the parsers take the request body (or the current stream) and return what to store, or raise
`SsfError` with the status the spec's error tables give (400 unreadable or invalid, 404 no such stream
for this receiver, 429 verification asked too often). Receiver-supplied members are `events_requested`,
`delivery` and `description`; transmitter-supplied ones present in an update or a replacement must equal
ΛiD's values (§8.1.1.3, §8.1.1.4), are ignored in a creation, and members the spec does not define are
ignored. A push endpoint is checked here for its form only; services/ssf_streams.py asks the outbound
HTTP port whether ΛiD may reach it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from lukhas_id.domain.ssf import DeliveryMethod, Stream, StreamStatus
from lukhas_id.protocol.ssf.events import SUPPORTED, delivered

MAX_DESCRIPTION: Final = 256  # §8.1.1: the transmitter MAY truncate the description
MAX_REASON: Final = 256
MAX_STATE: Final = 1024
MAX_URL: Final = 2048
MAX_AUTHORIZATION: Final = 4096
MAX_EVENTS_REQUESTED: Final = 64
SPEC_VERSION: Final = "1_0"
TRANSMITTER_SUPPLIED: Final = (
    "iss",
    "aud",
    "events_supported",
    "events_delivered",
    "min_verification_interval",
    "inactivity_timeout",
)


class SsfError(Exception):
    """A refused management or poll request: HTTP status, an error code and a safe description."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    @classmethod
    def invalid(cls, description: str) -> SsfError:
        return cls(400, "invalid_request", description)

    @classmethod
    def not_found(cls) -> SsfError:
        return cls(404, "not_found", "there is no stream with this stream_id for this receiver")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise SsfError.invalid("a JSON member is repeated")
        result[name] = value
    return result


def _no_constants(name: str) -> Any:
    raise SsfError.invalid("NaN and Infinity are not JSON")


def parse_object(body: bytes, *, empty_ok: bool = False) -> dict[str, Any]:
    """The body as a JSON object: strict UTF-8, no repeated members; `empty_ok`: an empty body is {}."""
    if not body.strip() and empty_ok:
        return {}
    try:
        doc = json.loads(body.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except SsfError:
        raise
    except RecursionError:
        raise SsfError.invalid("the JSON is nested too deeply") from None
    except ValueError:  # UnicodeDecodeError is one
        raise SsfError.invalid("the body is not valid UTF-8 JSON") from None
    if not isinstance(doc, dict):
        raise SsfError.invalid("the body must be a JSON object")
    return doc


def stream_id_of(doc: Mapping[str, Any]) -> str:
    value = doc.get("stream_id")
    if not isinstance(value, str) or not value:
        raise SsfError.invalid("stream_id is required (a string)")
    return value


def _visible_ascii(value: str) -> bool:
    return value.isascii() and all(" " <= c <= "~" for c in value)


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    """The receiver-supplied part of a stream configuration, checked."""

    method: DeliveryMethod
    endpoint_url: str | None
    authorization_header: str | None
    events_requested: tuple[str, ...] | None
    description: str | None


def _events_requested(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SsfError.invalid("events_requested must be an array of event type URIs")
    if len(value) > MAX_EVENTS_REQUESTED:
        raise SsfError.invalid(f"events_requested has more than {MAX_EVENTS_REQUESTED} values")
    return tuple(dict.fromkeys(v for v in value if len(v) <= MAX_URL))


def _description(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise SsfError.invalid("description must be a string")
    return value[:MAX_DESCRIPTION]


def _delivery(value: object, poll_url: str | None) -> tuple[DeliveryMethod, str | None, str | None]:
    if value is None:
        return DeliveryMethod.POLL, None, None  # §8.1.1.1: no delivery means poll
    if not isinstance(value, dict):
        raise SsfError.invalid("delivery must be a JSON object")
    method = value.get("method")
    if method not in (DeliveryMethod.PUSH.value, DeliveryMethod.POLL.value):
        raise SsfError.invalid(
            f"delivery method must be one of {DeliveryMethod.PUSH.value}, {DeliveryMethod.POLL.value}"
        )
    if method == DeliveryMethod.POLL.value:
        url = value.get("endpoint_url")
        if url is not None and url != poll_url:
            raise SsfError.invalid("a poll stream's endpoint_url is the transmitter's (§6.1.2): leave it out")
        if value.get("authorization_header") is not None:
            raise SsfError.invalid("authorization_header belongs to push delivery")
        return DeliveryMethod.POLL, None, None
    url = value.get("endpoint_url")
    if not isinstance(url, str) or not url:
        raise SsfError.invalid("push delivery needs endpoint_url (§6.1.1)")
    if len(url) > MAX_URL or not _visible_ascii(url) or " " in url:
        raise SsfError.invalid("endpoint_url is not a URL")
    header = value.get("authorization_header")
    if header is not None and (
        not isinstance(header, str) or not header or len(header) > MAX_AUTHORIZATION or not _visible_ascii(header)
    ):
        raise SsfError.invalid("authorization_header must be a header value of visible ASCII characters")
    return DeliveryMethod.PUSH, url, header


def parse_create(doc: Mapping[str, Any]) -> ReceiverConfig:
    """§8.1.1.1: the receiver-supplied members (transmitter-supplied ones are ignored in a creation)."""
    method, url, header = _delivery(doc.get("delivery"), None)
    return ReceiverConfig(
        method, url, header, _events_requested(doc.get("events_requested")), _description(doc.get("description"))
    )


def _check_transmitter_supplied(doc: Mapping[str, Any], current: Mapping[str, Any]) -> None:
    for name in TRANSMITTER_SUPPLIED:
        if name in doc and doc[name] != current.get(name):
            raise SsfError.invalid(f"{name} is transmitter-supplied and does not match the stream's value")


def parse_update(doc: Mapping[str, Any], stream: Stream, current: Mapping[str, Any], poll_url: str) -> ReceiverConfig:
    """§8.1.1.3 (PATCH): the members present change, the missing ones stay."""
    _check_transmitter_supplied(doc, current)
    if "delivery" in doc:
        method, url, header = _delivery(doc["delivery"], poll_url)
    else:
        method, url, header = stream.method, stream.endpoint_url, stream.authorization_header
    requested = _events_requested(doc["events_requested"]) if "events_requested" in doc else stream.events_requested
    description = _description(doc["description"]) if "description" in doc else stream.description
    return ReceiverConfig(method, url, header, requested, description)


def parse_replace(doc: Mapping[str, Any], current: Mapping[str, Any], poll_url: str) -> ReceiverConfig:
    """§8.1.1.4 (PUT): the whole receiver-supplied configuration; what is missing is removed."""
    _check_transmitter_supplied(doc, current)
    method, url, header = _delivery(doc.get("delivery"), poll_url)
    return ReceiverConfig(
        method, url, header, _events_requested(doc.get("events_requested")), _description(doc.get("description"))
    )


def events_delivered(config: ReceiverConfig) -> tuple[str, ...]:
    return delivered(config.events_requested)


def config_document(
    stream: Stream, issuer: str, poll_url: str, min_verification_interval: int, inactivity_timeout: int = 0
) -> dict[str, Any]:
    """§8.1.1: the stream configuration as the receiver sees it (never the authorization header);
    `inactivity_timeout` only when the transmitter applies one (0: none)."""
    delivery: dict[str, Any] = {"method": stream.method.value}
    delivery["endpoint_url"] = stream.endpoint_url if stream.method is DeliveryMethod.PUSH else poll_url
    doc: dict[str, Any] = {
        "stream_id": stream.stream_id,
        "iss": issuer,
        "aud": stream.client_id,
        "delivery": delivery,
        "events_supported": list(SUPPORTED),
        "events_delivered": list(stream.events_delivered),
        "min_verification_interval": min_verification_interval,
    }
    if inactivity_timeout:
        doc["inactivity_timeout"] = inactivity_timeout
    if stream.events_requested is not None:
        doc["events_requested"] = list(stream.events_requested)
    if stream.description is not None:
        doc["description"] = stream.description
    return doc


def status_document(stream: Stream) -> dict[str, Any]:
    """§8.1.2.1."""
    doc: dict[str, Any] = {"stream_id": stream.stream_id, "status": stream.status.value}
    if stream.reason:
        doc["reason"] = stream.reason
    return doc


def parse_status_update(doc: Mapping[str, Any]) -> tuple[str, StreamStatus, str | None]:
    """§8.1.2.2: stream_id, status, optional reason."""
    stream_id = stream_id_of(doc)
    raw = doc.get("status")
    if raw not in {s.value for s in StreamStatus}:
        raise SsfError.invalid("status must be one of enabled, paused, disabled")
    status = StreamStatus(raw)
    reason = doc.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise SsfError.invalid("reason must be a string")
    return stream_id, status, reason[:MAX_REASON] if reason else None


def parse_verification(doc: Mapping[str, Any]) -> tuple[str, str | None]:
    """§8.1.4.2: stream_id, optional state."""
    stream_id = stream_id_of(doc)
    state = doc.get("state")
    if state is not None and (not isinstance(state, str) or len(state) > MAX_STATE):
        raise SsfError.invalid(f"state must be a string of at most {MAX_STATE} characters")
    return stream_id, state


def parse_verified(doc: Mapping[str, Any]) -> None:
    """§8.1.3.2 `verified`: a boolean when present (ΛiD matches subjects the same way either way)."""
    if "verified" in doc and not isinstance(doc["verified"], bool):
        raise SsfError.invalid("verified must be a boolean")
