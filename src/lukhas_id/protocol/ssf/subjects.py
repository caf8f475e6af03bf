"""Subject identifiers: RFC 9493 §3 (formats) as OpenID SSF 1.0 §3 uses them (the top-level `sub_id`).

ΛiD names a principal by `iss_sub` (RFC 9493 §3.2.6): the tenant's issuer and the `sub` the receiving
client knows the principal by (pairwise for a pairwise client, as in its ID tokens); a stream itself by
`opaque` (§3.2.5) with the stream id (SSF §8.1.4.1, §8.1.5). A receiver adds and removes subjects in
those two formats only: an e-mail or phone subject is refused (ΛiD never puts an e-mail address or a
phone number in a SET, and does not match on one either).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from lukhas_id.protocol.ssf.streams import SsfError

MAX_ID: Final = 256


def iss_sub(iss: str, sub: str) -> dict[str, str]:
    return {"format": "iss_sub", "iss": iss, "sub": sub}


def opaque(identifier: str) -> dict[str, str]:
    return {"format": "opaque", "id": identifier}


def subject_key(subject: Mapping[str, str]) -> str:
    """The canonical text of a subject identifier (members sorted): equal subjects, equal keys (SSF §8.1.3.1:
    simple subjects match when identical)."""
    return orjson.dumps(dict(subject), option=orjson.OPT_SORT_KEYS).decode()


def _text(doc: Mapping[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_ID:
        raise SsfError.invalid(f"subject member {name} must be a non-empty string of at most {MAX_ID} characters")
    return value


def parse_subject(value: object, issuer: str) -> dict[str, str]:
    """The subject of an add/remove subject request (SSF §8.1.3.2, §8.1.3.3), checked; SsfError (400) else."""
    if not isinstance(value, dict):
        raise SsfError.invalid("subject must be a JSON object (an RFC 9493 subject identifier)")
    fmt = value.get("format")
    if fmt == "iss_sub":
        expected = {"format", "iss", "sub"}
        subject = iss_sub(_text(value, "iss"), _text(value, "sub"))
        if subject["iss"] != issuer:
            raise SsfError.invalid("subject iss must be this transmitter's issuer")
    elif fmt == "opaque":
        expected = {"format", "id"}
        subject = opaque(_text(value, "id"))
    elif isinstance(fmt, str):
        raise SsfError.invalid(f"subject format {fmt[:32]!r} is not supported: use iss_sub or opaque")
    else:
        raise SsfError.invalid("subject format is missing")
    extra = set(value) - expected
    if extra:
        raise SsfError.invalid(f"subject member {sorted(extra)[0][:32]!r} is not part of the {fmt} format")
    return subject
