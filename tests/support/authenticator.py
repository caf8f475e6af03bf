"""A software WebAuthn authenticator plus client: what a browser sends for navigator.credentials.create/get.

Keys are ES256 (P-256) by default, made with `cryptography`; CBOR is built with fido2.cbor.encode. The
results are the JSON of `credential.toJSON()` (base64url members). Every field a relying party checks
has a knob, so tests can make the bad cases: origin, rp id, challenge, type, flags, counter, user handle,
signature, attestation signature, credential id length, crossOrigin/topOrigin, the key's algorithm.

Attestation formats: "none", "packed" with an x5c chain from an `AttestationCA` made in the test,
"packed" self attestation (no x5c, signed by the credential key), "tpm" (WebAuthn §8.3, an ES256 key in
pubArea), "fido-u2f" (§8.6), "apple" (§8.8) and "android-key" (§8.4, the key description built by
`android_key_description`, whose knobs make the bad cases). The DER of the certificate extensions is
built here with `der`.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fido2 import cbor

UP, UV, BE, BS, AT, ED = 0x01, 0x04, 0x08, 0x10, 0x40, 0x80
ES256, ES384 = -7, -35
OID_FIDO_AAGUID = x509.ObjectIdentifier("1.3.6.1.4.1.45724.1.1.4")
OID_APPLE_NONCE = x509.ObjectIdentifier("1.2.840.113635.100.8.2")
OID_ANDROID_KEY = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.1.17")


# -- DER, for the certificate extensions of the attestation formats -------------------------------------


def der(tag: int, content: bytes, *, context: bool = False, constructed: bool = False) -> bytes:
    """One DER element: a universal tag, or a context-specific one (`context=True`, always constructed
    here: explicit tagging), in the high-tag-number form when the number is 31 or more."""
    first = (0x80 | 0x20) if context else (0x20 if constructed else 0x00)
    if tag < 31:
        head = bytes([first | tag])
    else:
        groups = []
        while True:
            groups.insert(0, tag & 0x7F)
            tag >>= 7
            if not tag:
                break
        head = bytes([first | 0x1F, *(g | 0x80 for g in groups[:-1]), groups[-1]])
    n = len(content)
    length = (
        bytes([n])
        if n < 0x80
        else bytes([0x80 | ((n.bit_length() + 7) // 8)]) + n.to_bytes((n.bit_length() + 7) // 8, "big")
    )
    return head + length + content


def der_int(value: int, *, tag: int = 2) -> bytes:
    return der(tag, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def der_seq(*items: bytes) -> bytes:
    return der(16, b"".join(items), constructed=True)


def android_authorization_list(
    *, purposes: tuple[int, ...] | None = (2,), origin: int | None = 0, all_applications: bool = False
) -> bytes:
    """An AuthorizationList with purpose [1], algorithm [2] (EC), allApplications [600], origin [702]."""
    members = []
    if purposes is not None:
        members.append(der(1, der(17, b"".join(der_int(p) for p in purposes), constructed=True), context=True))
    members.append(der(2, der_int(3), context=True))
    if all_applications:
        members.append(der(600, der(5, b""), context=True))
    if origin is not None:
        members.append(der(702, der_int(origin), context=True))
    return der_seq(*members)


def android_key_description(challenge: bytes, *, software: bytes | None = None, tee: bytes | None = None) -> bytes:
    """A KeyDescription (attestation version 200, TEE security level); by default the key's
    authorizations (origin generated, purpose sign) are in teeEnforced and softwareEnforced is empty."""
    return der_seq(
        der_int(200),
        der_int(1, tag=10),
        der_int(200),
        der_int(1, tag=10),
        der(4, challenge),
        der(4, b""),
        software if software is not None else der_seq(),
        tee if tee is not None else android_authorization_list(),
    )


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _cose_key(public: ec.EllipticCurvePublicKey, alg: int) -> dict[int, Any]:
    numbers = public.public_numbers()
    size = (public.curve.key_size + 7) // 8
    crv = {256: 1, 384: 2}[public.curve.key_size]
    return {1: 2, 3: alg, -1: crv, -2: numbers.x.to_bytes(size, "big"), -3: numbers.y.to_bytes(size, "big")}


def _hash_for(key: ec.EllipticCurvePrivateKey) -> hashes.HashAlgorithm:
    return hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()


def _name(cn: str, *, ou: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "SE"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Authenticators"),
    ]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


# -- TPM (WebAuthn §8.3; TPM 2.0 Part 2 structures), for an ES256 credential key -------------------------

TPM_ALG_ECC, TPM_ALG_SHA256, TPM_ALG_NULL, TPM_ECC_NIST_P256 = 0x0023, 0x000B, 0x0010, 0x0003
# fixedTPM | fixedParent | sensitiveDataOrigin | userWithAuth | sign
TPM_OBJECT_ATTRIBUTES = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 18)
OID_TCG_KP_AIK = x509.ObjectIdentifier("2.23.133.8.3")


def _sized(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def tpm_pub_area(public: ec.EllipticCurvePublicKey) -> bytes:
    """A TPMT_PUBLIC for a P-256 signing key (nameAlg SHA-256, no policy, no symmetric or scheme)."""
    numbers = public.public_numbers()
    return (
        struct.pack(">HHL", TPM_ALG_ECC, TPM_ALG_SHA256, TPM_OBJECT_ATTRIBUTES)
        + _sized(b"")
        + struct.pack(">HHHH", TPM_ALG_NULL, TPM_ALG_NULL, TPM_ECC_NIST_P256, TPM_ALG_NULL)
        + _sized(numbers.x.to_bytes(32, "big"))
        + _sized(numbers.y.to_bytes(32, "big"))
    )


def tpm_cert_info(pub_area: bytes, extra_data: bytes) -> bytes:
    """A TPMS_ATTEST of type TPM_ST_ATTEST_CERTIFY certifying `pub_area` (its Name) over `extra_data`."""
    name = struct.pack(">H", TPM_ALG_SHA256) + hashlib.sha256(pub_area).digest()
    return (
        b"\xffTCG"  # TPM_GENERATED_VALUE
        + struct.pack(">H", 0x8017)  # TPM_ST_ATTEST_CERTIFY
        + _sized(b"\x00\x0b" + b"\x11" * 32)  # qualifiedSigner (ignored by relying parties)
        + _sized(extra_data)
        + struct.pack(">QLLB", 12345, 1, 2, 1)  # clockInfo
        + struct.pack(">Q", 0x0102030405060708)  # firmwareVersion
        + _sized(name)
        + _sized(b"")  # qualifiedName
    )


def _certificate(subject: x509.Name, issuer: x509.Name, public: Any, *, ca: bool) -> x509.CertificateBuilder:
    """A v3 certificate valid from yesterday for a year, with Basic Constraints (critical)."""
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )


def _aaguid_extension(aaguid: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(OID_FIDO_AAGUID, b"\x04\x10" + aaguid)  # an OCTET STRING of the AAGUID


class AttestationCA:
    """A test root CA that issues attestation certificates (WebAuthn §8.2.1, §8.3.1 requirements)."""

    def __init__(self, issuer: AttestationCA | None = None, *, ca: bool = True) -> None:
        """A root, or with `issuer` an intermediate it certifies (`ca=False`: one wrongly not marked a CA)."""
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = _name("Test Attestation Root" if issuer is None else "Test Attestation Intermediate")
        signer = self if issuer is None else issuer
        builder = _certificate(name, name if issuer is None else issuer.cert.subject, self.key.public_key(), ca=ca)
        self.cert = builder.sign(signer.key, hashes.SHA256())

    def _sign(self, builder: x509.CertificateBuilder) -> bytes:
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def issue(self, aaguid: bytes) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        """(attestation private key, DER certificate) for an authenticator model (packed, fido-u2f)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = _name("Test Authenticator", ou="Authenticator Attestation")
        builder = _certificate(subject, self.cert.subject, key.public_key(), ca=False)
        return key, self._sign(builder.add_extension(_aaguid_extension(aaguid), critical=False))

    def issue_aik(self, aaguid: bytes | None) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
        """(AIK private key, DER certificate) per WebAuthn §8.3.1: empty subject, a TPM directoryName as the
        critical subjectAltName, tcg-kp-AIKCertificate, not a CA, and the AAGUID extension unless None."""
        key = ec.generate_private_key(ec.SECP256R1())
        tpm = x509.Name(
            [
                x509.NameAttribute(x509.ObjectIdentifier("2.23.133.2.1"), "id:FFFFF1D0"),  # manufacturer
                x509.NameAttribute(x509.ObjectIdentifier("2.23.133.2.2"), "Test TPM"),  # model
                x509.NameAttribute(x509.ObjectIdentifier("2.23.133.2.3"), "id:00010002"),  # version
            ]
        )
        builder = (
            _certificate(x509.Name([]), self.cert.subject, key.public_key(), ca=False)
            .add_extension(x509.SubjectAlternativeName([x509.DirectoryName(tpm)]), critical=True)
            .add_extension(x509.ExtendedKeyUsage([OID_TCG_KP_AIK]), critical=False)
        )
        if aaguid is not None:
            builder = builder.add_extension(_aaguid_extension(aaguid), critical=False)
        return key, self._sign(builder)

    def certify(self, public: ec.EllipticCurvePublicKey, extension: tuple[x509.ObjectIdentifier, bytes]) -> bytes:
        """A DER certificate for `public` (a credential key: apple, android-key) with one extension."""
        builder = _certificate(_name("Test Credential"), self.cert.subject, public, ca=False)
        return self._sign(builder.add_extension(x509.UnrecognizedExtension(*extension), critical=False))

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


@dataclass
class SoftCredential:
    id: bytes
    key: ec.EllipticCurvePrivateKey = field(repr=False)
    rp_id: str
    user_handle: bytes | None
    alg: int = ES256
    sign_count: int = 0


def _client_data(kind: str, challenge: str, origin: str, bom: bool, extra: dict[str, Any] | None) -> bytes:
    data = json.dumps({"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False, **(extra or {})})
    return (b"\xef\xbb\xbf" if bom else b"") + data.encode()


class SoftAuthenticator:
    """One authenticator (its credentials, counter policy, flags) and the browser in front of it."""

    def __init__(
        self,
        *,
        origin: str,
        rp_id: str,
        aaguid: bytes = b"\x00" * 16,
        backup_eligible: bool = False,
        backup_state: bool = False,
        counter_step: int = 1,
    ) -> None:
        self.origin = origin
        self.rp_id = rp_id
        self.aaguid = aaguid
        self.backup_eligible = backup_eligible
        self.backup_state = backup_state
        self.counter_step = counter_step
        self.credentials: list[SoftCredential] = []

    def _flags(self, *, up: bool, uv: bool, be: bool | None, bs: bool | None) -> int:
        be = self.backup_eligible if be is None else be
        bs = self.backup_state if bs is None else bs
        return (UP if up else 0) | (UV if uv else 0) | (BE if be else 0) | (BS if bs else 0)

    # -- navigator.credentials.create ---------------------------------------------------------

    def register(
        self,
        options: dict[str, Any],
        *,
        fmt: str = "none",
        ca: AttestationCA | None = None,
        self_attestation: bool = False,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        kind: str = "webauthn.create",
        up: bool = True,
        uv: bool = True,
        be: bool | None = None,
        bs: bool | None = None,
        sign_count: int = 0,
        credential_id: bytes | None = None,
        credential_id_length: int = 32,
        alg: int = ES256,
        tamper_attestation: bool = False,
        raw_id: bytes | None = None,
        client_data_extra: dict[str, Any] | None = None,
        bom: bool = False,
        chain: list[bytes] | None = None,
        keep: bool = True,
        key_description: Callable[[bytes], bytes] | None = None,
        certified_key: ec.EllipticCurvePrivateKey | None = None,
        tpm_version: str = "2.0",
        tpm_aaguid: bytes | None | bool = True,
    ) -> dict[str, Any]:
        """The RegistrationResponseJSON for `options` (the server's {"publicKey": ...} or its inside).

        fido-u2f, apple and android-key need `ca`. `key_description` makes android-key's key description
        from the client data hash (default: `android_key_description`, a valid one); `certified_key` is the
        key the apple/android-key certificate certifies, which also signs android-key's statement (default:
        the credential's). tpm: `certified_key` is the key in pubArea; `tpm_version` the statement's
        `ver`; `tpm_aaguid` the AIK certificate's AAGUID extension (True: this authenticator's, None: none).
        fido-u2f and tpm take `chain` as the certificates after the leaf (fido-u2f: none by default)."""
        pk = options.get("publicKey", options)
        rp = rp_id or self.rp_id
        cred_id = credential_id if credential_id is not None else secrets.token_bytes(credential_id_length)
        key = ec.generate_private_key(ec.SECP384R1() if alg == ES384 else ec.SECP256R1())
        user_handle = unb64u(pk["user"]["id"]) if "user" in pk else None
        client_data = _client_data(
            kind, challenge if challenge is not None else pk["challenge"], origin or self.origin, bom, client_data_extra
        )
        cose = _cose_key(key.public_key(), alg)
        attested = self.aaguid + struct.pack(">H", len(cred_id)) + cred_id + cbor.encode(cose)
        flags = self._flags(up=up, uv=uv, be=be, bs=bs) | AT
        auth_data = hashlib.sha256(rp.encode()).digest() + struct.pack(">BI", flags, sign_count) + attested
        client_hash = hashlib.sha256(client_data).digest()
        statement: dict[str, Any] = {}
        if fmt == "packed":
            if self_attestation:
                sig = key.sign(auth_data + client_hash, ec.ECDSA(_hash_for(key)))
                statement = {"alg": alg, "sig": sig}
            else:
                if ca is None:
                    raise ValueError("packed attestation with x5c needs an AttestationCA")
                att_key, att_cert = ca.issue(self.aaguid)
                sig = att_key.sign(auth_data + client_hash, ec.ECDSA(hashes.SHA256()))
                statement = {"alg": ES256, "sig": sig, "x5c": [att_cert, *(chain if chain is not None else [ca.der])]}
        elif fmt == "fido-u2f":
            if ca is None:
                raise ValueError("fido-u2f attestation needs an AttestationCA")
            att_key, att_cert = ca.issue(self.aaguid)
            point = key.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
            signed = b"\x00" + hashlib.sha256(rp.encode()).digest() + client_hash + cred_id + point
            sig = att_key.sign(signed, ec.ECDSA(hashes.SHA256()))
            statement = {"sig": sig, "x5c": [att_cert, *(chain or [])]}
        elif fmt == "tpm":
            if ca is None:
                raise ValueError("tpm attestation needs an AttestationCA")
            aik_key, aik_cert = ca.issue_aik(self.aaguid if tpm_aaguid is True else tpm_aaguid or None)
            pub_area = tpm_pub_area((certified_key or key).public_key())
            cert_info = tpm_cert_info(pub_area, hashlib.sha256(auth_data + client_hash).digest())
            statement = {
                "ver": tpm_version,
                "alg": ES256,
                "x5c": [aik_cert, *(chain if chain is not None else [ca.der])],
                "sig": aik_key.sign(cert_info, ec.ECDSA(hashes.SHA256())),
                "certInfo": cert_info,
                "pubArea": pub_area,
            }
        elif fmt in ("apple", "android-key"):
            if ca is None:
                raise ValueError(f"{fmt} attestation needs an AttestationCA")
            signer = certified_key if certified_key is not None else key
            certified = signer.public_key()
            if fmt == "apple":
                nonce = hashlib.sha256(auth_data + client_hash).digest()
                extension = (OID_APPLE_NONCE, der_seq(der(1, der(4, nonce), context=True)))
                statement = {"alg": alg, "x5c": [ca.certify(certified, extension), ca.der]}
            else:
                description = (key_description or android_key_description)(client_hash)
                cert = ca.certify(certified, (OID_ANDROID_KEY, description))
                sig = signer.sign(auth_data + client_hash, ec.ECDSA(_hash_for(signer)))
                statement = {"alg": alg, "sig": sig, "x5c": [cert, ca.der]}
        elif fmt != "none":
            statement = {"sig": b"\x00"}
        if tamper_attestation and "sig" in statement:
            statement["sig"] = bytes([statement["sig"][0] ^ 0xFF]) + statement["sig"][1:]
        attestation_object = cbor.encode({"fmt": fmt, "attStmt": statement, "authData": auth_data})
        if keep:
            self.credentials.append(SoftCredential(cred_id, key, rp, user_handle, alg, sign_count))
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        rid = raw_id if raw_id is not None else cred_id
        return {
            "id": b64u(rid),
            "rawId": b64u(rid),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64u(client_data),
                "attestationObject": b64u(attestation_object),
                "authenticatorData": b64u(auth_data),
                "publicKey": b64u(public_der),
                "publicKeyAlgorithm": alg,
                "transports": ["internal", "hybrid"],
            },
        }

    # -- navigator.credentials.get ------------------------------------------------------------

    def pick(self, options: dict[str, Any]) -> SoftCredential:
        pk = options.get("publicKey", options)
        allowed = {unb64u(c["id"]) for c in pk.get("allowCredentials") or []}
        for cred in self.credentials:
            if not allowed or cred.id in allowed:
                return cred
        raise LookupError("no credential of this authenticator is allowed")

    def assertion(
        self,
        options: dict[str, Any],
        *,
        credential: SoftCredential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        challenge: str | None = None,
        kind: str = "webauthn.get",
        up: bool = True,
        uv: bool = True,
        be: bool | None = None,
        bs: bool | None = None,
        sign_count: int | None = None,
        user_handle: bytes | None | bool = True,
        tamper_signature: bool = False,
        client_data_extra: dict[str, Any] | None = None,
        bom: bool = False,
        raw_id: bytes | None = None,
    ) -> dict[str, Any]:
        """The AuthenticationResponseJSON for `options`. `user_handle`: True sends the credential's
        (as a discoverable credential does), False/None sends none, bytes sends those."""
        pk = options.get("publicKey", options)
        cred = credential or self.pick(options)
        if sign_count is None:
            cred.sign_count += self.counter_step
            count = cred.sign_count
        else:
            count = sign_count
        client_data = _client_data(
            kind, challenge if challenge is not None else pk["challenge"], origin or self.origin, bom, client_data_extra
        )
        flags = self._flags(up=up, uv=uv, be=be, bs=bs)
        auth_data = hashlib.sha256((rp_id or cred.rp_id).encode()).digest() + struct.pack(">BI", flags, count)
        signature = cred.key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(_hash_for(cred.key)))
        if tamper_signature:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        response: dict[str, Any] = {
            "clientDataJSON": b64u(client_data),
            "authenticatorData": b64u(auth_data),
            "signature": b64u(signature),
        }
        if user_handle is True:
            if cred.user_handle is not None:
                response["userHandle"] = b64u(cred.user_handle)
        elif isinstance(user_handle, bytes):
            response["userHandle"] = b64u(user_handle)
        rid = raw_id if raw_id is not None else cred.id
        return {
            "id": b64u(rid),
            "rawId": b64u(rid),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        }
