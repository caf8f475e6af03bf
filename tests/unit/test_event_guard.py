"""The event guard (domain/events.py): an event carrying an e-mail address, an IP address, a JWT, a PEM block or
a secret-looking string, or a metadata key that names a secret, is refused when it is made; identifiers pass."""

from __future__ import annotations

import pytest

from lukhas_id.domain.events import EventType, IdentityEvent, UnsafeEvent, unsafe_value

LID = "USR-014D2PF2DBSQQG28T5CY4TQKFFP"


def make(kind: EventType = EventType.SIGN_IN_REFUSED, **metadata: str) -> IdentityEvent:
    return IdentityEvent(kind, "tenant-1", LID, 1000.0, metadata=metadata)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("alice@example.com", "an e-mail address"),
        ("Contact: Bob.Smith+tag@mail.example.org please", "an e-mail address"),
        ("203.0.113.7", "an IP address"),
        ("from 10.1.2.3", "an IP address"),
        ("2001:db8::1", "an IP address"),
        ("::ffff:192.0.2.1", "an IP address"),
        ("fe80::1%eth0", "an IP address"),
        ("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "a JWT"),
        ("eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.", "a JWT"),
        ("-----BEGIN PRIVATE KEY-----", "a PEM block"),
        ("Xq3vN8c2LkR7pW0aZs5dYh1uJf6tGm9bEi4oKw2lTnA", "a secret-looking string"),  # token_urlsafe(32)
        ("Bearer aB3" + "x" * 40, "a secret-looking string"),
    ],
)
def test_personal_and_secret_values_are_refused(value: str, reason: str) -> None:
    assert unsafe_value(value) == reason
    with pytest.raises(UnsafeEvent) as caught:
        make(detail=value)
    assert str(caught.value) == f"sign_in.refused: metadata 'detail' holds {reason}"
    assert value not in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        "password",
        "pwd otp",
        "urn:lukhas:acr:2",
        "12:30",
        "v1.2.3",
        "1.2",
        LID,
        "cl_" + "aB3dE6gH9jK2mN5pQ8rS1t",  # a client id: 22 characters after the prefix
        "aB3dE6gH9jK2mN5pQ8rS1t",  # a jti
        "0123456789abcdef" * 4,  # a credential handle (hex HMAC)
        "openid profile offline_access",
        "",
    ],
)
def test_identifiers_and_enum_values_pass(value: str) -> None:
    assert unsafe_value(value) is None
    assert make(detail=value).metadata["detail"] == value


@pytest.mark.parametrize("key", ["password", "token", "refresh_token", "code", "email", "ip", "cookie", "Secret"])
def test_a_metadata_key_that_names_a_secret_is_refused(key: str) -> None:
    with pytest.raises(UnsafeEvent, match=f"metadata key '{key}' names"):
        make(**{key: "x"})


def test_principal_and_tenant_are_guarded_too() -> None:
    with pytest.raises(UnsafeEvent, match="principal holds an e-mail address"):
        IdentityEvent(EventType.USER_CREATED, "t", "alice@example.com", 1.0)
    with pytest.raises(UnsafeEvent, match="tenant_id holds an IP address"):
        IdentityEvent(EventType.USER_CREATED, "192.0.2.1", LID, 1.0)


def test_a_non_string_metadata_value_is_refused() -> None:
    with pytest.raises(UnsafeEvent, match="is not a string"):
        make(EventType.RECOVERY_CODES_GENERATED, count=3)  # type: ignore[arg-type]


def test_a_metadata_key_outside_its_types_catalogue_entry_is_refused() -> None:
    with pytest.raises(UnsafeEvent, match="sign_in.refused: metadata key 'client_id' is not one of its type's keys"):
        make(client_id="cl_x")
    assert make(EventType.CONSENT_WITHDRAWN, client_id="cl_x").client_id == "cl_x"


def test_each_event_has_its_own_id_and_its_plain_form() -> None:
    a, b = make(EventType.CONSENT_WITHDRAWN, client_id="cl_x"), make()
    assert a.id != b.id and len(a.id) == 36
    assert a.principal_type == "USR" and a.client_id == "cl_x" and b.client_id is None
    assert IdentityEvent(EventType.SIGNING_KEY_ROTATED, "t", None, 1.0).principal_type is None
    assert a.as_dict() == {
        "id": a.id,
        "type": "consent.withdrawn",
        "time": 1000.0,
        "tenant": "tenant-1",
        "principal": LID,
        "principal_type": "USR",
        "client_id": "cl_x",
        "trace_id": None,
        "metadata": {"client_id": "cl_x"},
    }


def test_public_thumbprints_pass_under_their_own_keys_only() -> None:
    thumbprint = "FSrWrhnORHRO0PLzQRsGHYlWGtPxqMsFj7-lKc78oH0"
    assert IdentityEvent(EventType.SIGNING_KEY_ROTATED, "t", None, 1.0, metadata={"kid": thumbprint, "alg": "ES256"})
    with pytest.raises(UnsafeEvent, match="'handle' holds a secret-looking string"):
        make(EventType.PASSKEY_REMOVED, handle=thumbprint)
    with pytest.raises(UnsafeEvent, match="'kid' holds an e-mail address"):
        make(EventType.SIGNING_KEY_ROTATED, kid="alice@example.com")


def test_every_type_has_a_catalogue_entry_and_the_reference_is_current() -> None:
    from pathlib import Path

    from lukhas_id.domain.events import CATALOGUE
    from lukhas_id.domain.events_reference import render

    assert set(CATALOGUE) == set(EventType)
    docs = Path(__file__).resolve().parents[2] / "docs" / "events-reference.md"
    assert docs.read_text() == render(), "run: python -m lukhas_id.domain.events_reference > docs/events-reference.md"
