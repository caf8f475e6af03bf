"""jose/: JWK export, JWS sign/verify and claim validation (RFC 7515, 7517, 7518, 7519, 7638, 8037, 9068)."""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import jwt as pyjwt
import orjson
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from lukhas_id.domain.keys import SigningAlg
from lukhas_id.jose import (
    InvalidToken,
    SigningKeyMaterial,
    TokenPurpose,
    VerificationKeySet,
    generate_private_key,
    peek_header,
    public_jwk,
    sign,
    thumbprint,
    verify,
)
from lukhas_id.jose.purposes import RULES
from tests.support.paths import REPO

NOW = 1_800_000_000.0
ISS = "https://id.example.com/t/acme"
AUD = "https://api.example.com"
AT = TokenPurpose.ACCESS_TOKEN
REQUIRED = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}
ROOT = REPO


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims(now: float = NOW, **changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": ISS,
        "sub": "USR-01J0000000000000000000000",
        "aud": AUD,
        "client_id": "client-1",
        "exp": int(now) + 300,
        "iat": int(now),
        "jti": "jti-0123456789",
        "scope": "openid profile",
    }
    base.update(changes)
    return base


@dataclass(frozen=True)
class Keys:
    alg: SigningAlg
    der: bytes
    jwk: dict[str, str]
    signer: SigningKeyMaterial
    verifier: VerificationKeySet

    @property
    def kid(self) -> str:
        return self.jwk["kid"]

    def private_key(self) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey:
        key = serialization.load_der_private_key(self.der, password=None)
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | Ed25519PrivateKey)
        return key


def make_keys(alg: SigningAlg) -> Keys:
    der = generate_private_key(alg)
    jwk = public_jwk(der, alg)
    return Keys(alg, der, jwk, SigningKeyMaterial(jwk["kid"], alg, der), VerificationKeySet([jwk]))


@pytest.fixture(scope="module")
def all_keys() -> dict[SigningAlg, Keys]:
    return {alg: make_keys(alg) for alg in SigningAlg}


@pytest.fixture
def es(all_keys: dict[SigningAlg, Keys]) -> Keys:
    return all_keys[SigningAlg.ES256]


def raw_sign(keys: Keys, alg: str, signing_input: bytes, *, der_ecdsa: bool = False) -> bytes:
    """An independent signer (cryptography only) for forged-but-validly-signed tokens."""
    key = keys.private_key()
    if alg == "none":
        return b""
    if isinstance(key, rsa.RSAPrivateKey):
        pad: padding.AsymmetricPadding = (
            padding.PSS(padding.MGF1(hashes.SHA256()), 32) if alg == "PS256" else padding.PKCS1v15()
        )
        return key.sign(signing_input, pad, hashes.SHA256())
    if isinstance(key, ec.EllipticCurvePrivateKey):
        der = key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        if der_ecdsa:
            return der
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return key.sign(signing_input)


def forge(
    keys: Keys,
    header: dict[str, object] | bytes | None = None,
    payload: dict[str, object] | bytes | None = None,
    *,
    sign_as: str | None = None,
    der_ecdsa: bool = False,
) -> str:
    if header is None:
        header = {"alg": keys.alg.value, "kid": keys.kid, "typ": "at+jwt"}
    if payload is None:
        payload = claims()
    header_raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    payload_raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64(header_raw)}.{b64(payload_raw)}".encode()
    alg = sign_as or (keys.alg.value if isinstance(header, bytes) else str(header.get("alg")))
    return f"{signing_input.decode()}.{b64(raw_sign(keys, alg, signing_input, der_ecdsa=der_ecdsa))}"


def check(token: str, keys: Keys, **kwargs: object) -> dict[str, object]:
    options: dict[str, object] = {"issuer": ISS, "now": NOW, "audience": AUD}
    options.update(kwargs)
    return verify(token, AT, keys.verifier, **options)  # type: ignore[arg-type]


def rejected(token: str, keys: Keys, **kwargs: object) -> str:
    with pytest.raises(InvalidToken) as info:
        check(token, keys, **kwargs)
    message = str(info.value)
    assert token not in message
    for segment in token.split("."):
        if len(segment) > 8:
            assert segment not in message
    return message


# --- round trip and interoperability ---------------------------------------------------------------


@pytest.mark.parametrize("alg", list(SigningAlg))
def test_round_trip(all_keys: dict[SigningAlg, Keys], alg: SigningAlg) -> None:
    keys = all_keys[alg]
    token = sign(claims(), AT, keys.signer)
    assert peek_header(token) == {"alg": alg.value, "kid": keys.kid, "typ": "at+jwt"}
    assert check(token, keys) == claims()


@pytest.mark.parametrize("alg", list(SigningAlg))
def test_pyjwt_verifies_our_tokens(all_keys: dict[SigningAlg, Keys], alg: SigningAlg) -> None:
    keys = all_keys[alg]
    now = time.time()
    token = sign(claims(now), AT, keys.signer)
    decoded = pyjwt.decode(token, key=pyjwt.PyJWK(keys.jwk), algorithms=[alg.value], audience=AUD, issuer=ISS)
    assert decoded == claims(now)
    assert pyjwt.get_unverified_header(token) == {"alg": alg.value, "kid": keys.kid, "typ": "at+jwt"}


@pytest.mark.parametrize("alg", list(SigningAlg))
def test_we_verify_pyjwt_tokens(all_keys: dict[SigningAlg, Keys], alg: SigningAlg) -> None:
    keys = all_keys[alg]
    token = pyjwt.encode(claims(), keys.private_key(), algorithm=alg.value, headers={"kid": keys.kid, "typ": "at+jwt"})
    assert check(token, keys) == claims()


def test_es256_signature_is_raw_r_s(es: Keys) -> None:
    signature = unb64(sign(claims(), AT, es.signer).split(".")[2])
    assert len(signature) == 64


def test_ecdsa_der_signature_is_rejected(es: Keys) -> None:
    assert "bad signature" in rejected(forge(es, der_ecdsa=True), es)


def test_claims_are_compact_orjson(es: Keys) -> None:
    payload = sign(claims(), AT, es.signer).split(".")[1]
    assert unb64(payload) == orjson.dumps(claims())


# --- JWK --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alg", "members"),
    [
        (SigningAlg.RS256, {"kty", "n", "e"}),
        (SigningAlg.PS256, {"kty", "n", "e"}),
        (SigningAlg.ES256, {"kty", "crv", "x", "y"}),
        (SigningAlg.EDDSA, {"kty", "crv", "x"}),
    ],
)
def test_public_jwk_members(all_keys: dict[SigningAlg, Keys], alg: SigningAlg, members: set[str]) -> None:
    jwk = all_keys[alg].jwk
    assert set(jwk) == members | {"kid", "alg", "use"}
    assert not PRIVATE_MEMBERS & set(jwk)
    assert jwk["alg"] == alg.value
    assert jwk["use"] == "sig"
    assert jwk["kid"] == thumbprint(jwk)
    assert all(isinstance(v, str) for v in jwk.values())


def test_ec_coordinates_are_full_length(es: Keys) -> None:
    assert es.jwk["crv"] == "P-256"
    assert len(unb64(es.jwk["x"])) == 32
    assert len(unb64(es.jwk["y"])) == 32


def test_ec_coordinates_full_length_for_many_keys() -> None:
    # About 1 key in 128 has a coordinate with a leading zero byte; minimal encoding would drop it.
    for _ in range(300):
        jwk = public_jwk(generate_private_key(SigningAlg.ES256), SigningAlg.ES256)
        assert (len(unb64(jwk["x"])), len(unb64(jwk["y"]))) == (32, 32)


def test_okp_and_rsa_members(all_keys: dict[SigningAlg, Keys]) -> None:
    okp = all_keys[SigningAlg.EDDSA].jwk
    assert okp["crv"] == "Ed25519" and len(unb64(okp["x"])) == 32
    rsa_jwk = all_keys[SigningAlg.RS256].jwk
    n = unb64(rsa_jwk["n"])
    assert len(n) == 256 and n[0] != 0  # 2048 bits, minimal octets
    assert rsa_jwk["e"] == "AQAB"


def test_generated_key_types() -> None:
    ec_key = serialization.load_der_private_key(generate_private_key(SigningAlg.ES256), None)
    assert isinstance(ec_key, ec.EllipticCurvePrivateKey) and isinstance(ec_key.curve, ec.SECP256R1)
    rsa_key = serialization.load_der_private_key(generate_private_key(SigningAlg.PS256), None)
    assert isinstance(rsa_key, rsa.RSAPrivateKey) and rsa_key.key_size == 2048
    ed_key = serialization.load_der_private_key(generate_private_key(SigningAlg.EDDSA), None)
    assert isinstance(ed_key, Ed25519PrivateKey)


def test_thumbprint_ignores_optional_members(es: Keys) -> None:
    assert thumbprint({**es.jwk, "kid": "other", "d": "AAAA"}) == es.jwk["kid"]


def test_thumbprint_rejects_incomplete_keys() -> None:
    with pytest.raises(ValueError):
        thumbprint({"kty": "EC", "crv": "P-256", "x": "AAAA"})
    with pytest.raises(ValueError):
        thumbprint({"kty": "nope"})


# --- key material -----------------------------------------------------------------------------------


def test_signing_key_material_rejects_wrong_key_type(es: Keys) -> None:
    with pytest.raises(ValueError):
        SigningKeyMaterial("k", SigningAlg.RS256, es.der)
    with pytest.raises(ValueError):
        public_jwk(es.der, SigningAlg.EDDSA)


def test_signing_key_material_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        SigningKeyMaterial("k", SigningAlg.ES256, b"not a key")


def test_signing_key_material_rejects_short_rsa() -> None:
    weak = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the point of the test
    short = weak.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError):
        SigningKeyMaterial("k", SigningAlg.RS256, short)


def test_signing_key_material_repr_has_no_key(es: Keys) -> None:
    assert repr(es.signer) == f"SigningKeyMaterial(kid={es.kid!r}, alg='ES256')"


def test_key_set_ignores_unusable_keys(es: Keys, all_keys: dict[SigningAlg, Keys]) -> None:
    rs = all_keys[SigningAlg.RS256].jwk
    keys = VerificationKeySet(
        [
            es.jwk,
            {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
            {"kty": "XYZ", "kid": "future"},
            {**rs, "kid": "enc", "use": "enc"},
            {**rs, "kid": "rs512", "alg": "RS512"},
            {k: v for k, v in rs.items() if k != "alg"} | {"kid": "rsa-without-alg"},
            {k: v for k, v in es.jwk.items() if k != "kid"},
        ]
    )
    assert keys.kids() == {es.kid}


def test_key_set_infers_alg_from_curve(es: Keys) -> None:
    keys = VerificationKeySet([{k: v for k, v in es.jwk.items() if k != "alg"}])
    assert verify(sign(claims(), AT, es.signer), AT, keys, issuer=ISS, now=NOW) == claims()


def test_key_set_imports_only_public_members(es: Keys) -> None:
    keys = VerificationKeySet([{**es.jwk, "d": "AAAA"}])
    token = sign(claims(), AT, es.signer)
    assert verify(token, AT, keys, issuer=ISS, now=NOW) == claims()


def test_key_set_rejects_duplicate_kid(es: Keys) -> None:
    with pytest.raises(ValueError, match="duplicate kid"):
        VerificationKeySet([es.jwk, es.jwk])


@pytest.mark.parametrize(
    "change",
    [
        {"x": "AAAA"},  # short coordinate
        {"crv": "P-384"},
        {"x": "not base64!"},
        {"alg": "RS256"},  # alg does not fit kty
    ],
)
def test_key_set_rejects_malformed_keys(es: Keys, change: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        VerificationKeySet([{**es.jwk, **change}])


def test_key_set_rejects_short_rsa() -> None:
    weak = rsa.generate_private_key(65537, 1024)  # noqa: S505 - the point of the test
    key = weak.public_key().public_numbers()
    n = b64(key.n.to_bytes(128, "big"))
    with pytest.raises(ValueError, match="2048"):
        VerificationKeySet([{"kty": "RSA", "n": n, "e": "AQAB", "kid": "small", "alg": "RS256"}])


# --- signing ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REQUIRED)
def test_sign_refuses_missing_required_claim(es: Keys, name: str) -> None:
    incomplete = claims()
    del incomplete[name]
    with pytest.raises(ValueError, match=name):
        sign(incomplete, AT, es.signer)


def test_sign_refuses_oversized_token(es: Keys) -> None:
    with pytest.raises(ValueError, match="16384"):
        sign(claims(blob="x" * 16_384), AT, es.signer)


def test_every_purpose_has_rules() -> None:
    assert set(RULES) == set(TokenPurpose)
    for rules in RULES.values():
        assert rules.algorithms and rules.typ and rules.required_claims


# --- rejections: header -----------------------------------------------------------------------------


def test_rejects_alg_none(es: Keys) -> None:
    token = forge(es, {"alg": "none", "kid": es.kid, "typ": "at+jwt"})
    assert token.endswith(".")
    assert "alg" in rejected(token, es)


def test_rejects_hs256_with_public_key_as_secret(all_keys: dict[SigningAlg, Keys]) -> None:
    keys = all_keys[SigningAlg.RS256]
    public_pem = (
        keys.private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for secret in (public_pem, json.dumps(keys.jwk).encode(), keys.jwk["n"].encode()):
        header = b64(json.dumps({"alg": "HS256", "kid": keys.kid, "typ": "at+jwt"}).encode())
        signing_input = f"{header}.{b64(json.dumps(claims()).encode())}"
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert "alg" in rejected(f"{signing_input}.{b64(mac)}", keys)


@pytest.mark.parametrize("alg", ["HS256", "RS512", "ES384", "es256", "EdDSA ", "Ed25519"])
def test_rejects_algorithms_outside_allow_list(es: Keys, alg: str) -> None:
    token = forge(es, {"alg": alg, "kid": es.kid, "typ": "at+jwt"}, sign_as="ES256")
    assert "alg" in rejected(token, es)


def test_rejects_header_alg_different_from_key_alg(all_keys: dict[SigningAlg, Keys]) -> None:
    keys = all_keys[SigningAlg.RS256]  # an RS256 key, validly used to make a PS256 signature
    token = forge(keys, {"alg": "PS256", "kid": keys.kid, "typ": "at+jwt"})
    assert "key's algorithm" in rejected(token, keys)


def test_rejects_unknown_kid(es: Keys) -> None:
    other = make_keys(SigningAlg.ES256)
    assert "unknown kid" in rejected(sign(claims(), AT, other.signer), es)


@pytest.mark.parametrize("kid", [None, "", 7])
def test_rejects_missing_kid(es: Keys, kid: object) -> None:
    header: dict[str, object] = {"alg": "ES256", "typ": "at+jwt"}
    if kid is not None:
        header["kid"] = kid
    assert "kid" in rejected(forge(es, header), es)


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt", "dpop+jwt", "at+jwt ", "text/at+jwt", None, 1])
def test_rejects_wrong_typ(es: Keys, typ: object) -> None:
    header: dict[str, object] = {"alg": "ES256", "kid": es.kid}
    if typ is not None:
        header["typ"] = typ
    assert "typ" in rejected(forge(es, header), es)


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT", "Application/At+Jwt"])
def test_accepts_typ_forms(es: Keys, typ: str) -> None:
    assert check(forge(es, {"alg": "ES256", "kid": es.kid, "typ": typ}), es) == claims()


def test_rejects_crit_header(es: Keys) -> None:
    header = {"alg": "ES256", "kid": es.kid, "typ": "at+jwt", "crit": ["exp"], "exp": 1}
    assert "crit" in rejected(forge(es, header), es)


def test_rejects_duplicate_header_members(es: Keys) -> None:
    header = f'{{"alg":"ES256","kid":"{es.kid}","typ":"at+jwt","alg":"ES256"}}'.encode()
    assert "header" in rejected(forge(es, header), es)


# --- rejections: structure --------------------------------------------------------------------------


def test_rejects_two_segments(es: Keys) -> None:
    token = sign(claims(), AT, es.signer)
    assert "3" in rejected(token.rsplit(".", 1)[0], es)


def test_rejects_four_segments(es: Keys) -> None:
    token = sign(claims(), AT, es.signer)
    assert "3" in rejected(token + ".AAAA", es)
    assert "3" in rejected("a.b.c.d.e", es)


def test_rejects_oversized_token(es: Keys) -> None:
    token = forge(es, payload=claims(blob="x" * 16_384))
    assert "16384" in rejected(token, es)


def test_rejects_non_ascii_token(es: Keys) -> None:
    rejected(sign(claims(), AT, es.signer) + "é", es)


@pytest.mark.parametrize("where", [0, 1, 2])
@pytest.mark.parametrize("garbage", ["=", "+", "/", "!", "~"])
def test_rejects_bad_base64url(es: Keys, where: int, garbage: str) -> None:
    parts = sign(claims(), AT, es.signer).split(".")
    parts[where] = parts[where][:-1] + garbage
    rejected(".".join(parts), es)


def test_rejects_non_canonical_base64url(es: Keys) -> None:
    parts = forge(es, payload=b'{"a":1}').split(".")  # 7 bytes: last char carries 2 unused bits
    last = parts[1][-1]
    parts[1] = parts[1][:-1] + ("B" if last == "A" else chr(ord(last) + 1))
    rejected(".".join(parts), es)


@pytest.mark.parametrize("header", [b"not json", b"[1,2]", b'"ES256"', b"\xff\xfe"])
def test_rejects_bad_header_json(es: Keys, header: bytes) -> None:
    assert "header" in rejected(forge(es, header), es)


@pytest.mark.parametrize("payload", [b"not json", b"[1,2]", b"null", b"\xff{}", b'{"exp": NaN}'])
def test_rejects_bad_payload_json(es: Keys, payload: bytes) -> None:
    assert "payload" in rejected(forge(es, payload=payload), es)


def test_rejects_duplicate_payload_members(es: Keys) -> None:
    body = orjson.dumps(claims())[:-1] + b',"sub":"USR-someone-else"}'
    assert "payload" in rejected(forge(es, payload=body), es)


def test_rejects_nested_duplicate_members(es: Keys) -> None:
    body = orjson.dumps(claims())[:-1] + b',"cnf":{"jkt":"a","jkt":"b"}}'
    assert "payload" in rejected(forge(es, payload=body), es)


def test_rejects_non_finite_number(es: Keys) -> None:
    body = orjson.dumps(claims(exp=0))[:-1].replace(b'"exp":0', b'"exp":1e400') + b"}"
    assert "payload" in rejected(forge(es, payload=body), es)


def test_rejects_tampered_payload(es: Keys) -> None:
    header, _, signature = sign(claims(), AT, es.signer).split(".")
    payload = b64(orjson.dumps(claims(sub="USR-admin")))
    assert "signature" in rejected(f"{header}.{payload}.{signature}", es)


@pytest.mark.parametrize("alg", list(SigningAlg))
def test_rejects_tampered_signature(all_keys: dict[SigningAlg, Keys], alg: SigningAlg) -> None:
    keys = all_keys[alg]
    header, payload, signature = sign(claims(), AT, keys.signer).split(".")
    raw = bytearray(unb64(signature))
    raw[len(raw) // 2] ^= 0x01
    assert "signature" in rejected(f"{header}.{payload}.{b64(bytes(raw))}", keys)
    assert "signature" in rejected(f"{header}.{payload}.{b64(bytes(raw[:-1]))}", keys)
    assert "signature" in rejected(f"{header}.{payload}.", keys)


# --- rejections: claims -----------------------------------------------------------------------------


def test_rejects_expired(es: Keys) -> None:
    token = sign(claims(exp=int(NOW) - 31), AT, es.signer)
    assert "expired" in rejected(token, es)
    assert "expired" in rejected(sign(claims(exp=int(NOW) - 30), AT, es.signer), es)
    assert "expired" in rejected(sign(claims(exp=int(NOW)), AT, es.signer), es, leeway=0)


def test_accepts_expired_within_leeway(es: Keys) -> None:
    assert check(sign(claims(exp=int(NOW) - 29), AT, es.signer), es)
    assert check(sign(claims(exp=NOW + 0.5), AT, es.signer), es, leeway=0)


def test_check_exp_false_accepts_expired_but_checks_the_rest(es: Keys) -> None:
    old = claims(exp=int(NOW) - 86_400, iat=int(NOW) - 86_700)
    assert check(sign(old, AT, es.signer), es, check_exp=False)["exp"] == int(NOW) - 86_400
    assert "issuer" in rejected(sign({**old, "iss": "https://other.example"}, AT, es.signer), es, check_exp=False)
    assert "future" in rejected(sign(claims(iat=int(NOW) + 3600), AT, es.signer), es, check_exp=False)
    no_exp = {k: v for k, v in old.items() if k != "exp"}
    assert "missing claim exp" in rejected(forge(es, payload=no_exp), es, check_exp=False)


def test_rejects_future_iat(es: Keys) -> None:
    assert "iat" in rejected(sign(claims(iat=int(NOW) + 31), AT, es.signer), es)
    assert check(sign(claims(iat=int(NOW) + 30), AT, es.signer), es)


def test_rejects_future_nbf(es: Keys) -> None:
    assert "nbf" in rejected(sign(claims(nbf=int(NOW) + 31), AT, es.signer), es)
    assert check(sign(claims(nbf=int(NOW) + 30), AT, es.signer), es)


@pytest.mark.parametrize("issuer", ["https://id.example.com/t/other", ISS + "/", ISS.upper()])
def test_rejects_wrong_issuer(es: Keys, issuer: str) -> None:
    assert "issuer" in rejected(sign(claims(), AT, es.signer), es, issuer=issuer)


@pytest.mark.parametrize("name", REQUIRED)
def test_rejects_missing_required_claim(es: Keys, name: str) -> None:
    incomplete = claims()
    del incomplete[name]
    assert f"missing claim {name}" in rejected(forge(es, payload=incomplete), es)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("exp", "1800000300"),
        ("exp", True),
        ("iat", None),
        ("nbf", "0"),
        ("aud", 5),
        ("aud", []),
        ("aud", [AUD, 1]),
        ("sub", ""),
        ("sub", 42),
        ("client_id", ["client-1"]),
        ("jti", None),
        ("iss", {"url": ISS}),
    ],
)
def test_rejects_wrong_claim_type(es: Keys, name: str, value: object) -> None:
    payload = claims()
    payload[name] = value
    assert name in rejected(forge(es, payload=payload), es)


def test_rejects_wrong_audience(es: Keys) -> None:
    token = sign(claims(aud=["https://other.example.com"]), AT, es.signer)
    assert "audience" in rejected(token, es)
    assert "audience" in rejected(sign(claims(), AT, es.signer), es, audience="https://api.example")


def test_audience_in_list_or_not_checked(es: Keys) -> None:
    token = sign(claims(aud=["https://other.example.com", AUD]), AT, es.signer)
    assert check(token, es)
    assert check(sign(claims(aud="https://other.example.com"), AT, es.signer), es, audience=None)


# --- peek_header and hygiene --------------------------------------------------------------------------


def test_peek_header(es: Keys) -> None:
    assert peek_header(sign(claims(), AT, es.signer))["kid"] == es.kid


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c", "...", "eyJ.e30.", "x" * 20_000])
def test_peek_header_rejects_garbage(token: str) -> None:
    with pytest.raises(InvalidToken):
        peek_header(token)


def test_only_jose_imports_joserfc() -> None:
    offenders = []
    for folder in ("src", "tests", "bench"):
        for path in (ROOT / folder).rglob("*.py"):
            if (ROOT / "src" / "lukhas_id" / "jose") in path.parents:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if any(n == "joserfc" or n.startswith("joserfc.") for n in names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
