"""Second factors as services (services/totp.py, recovery_codes.py, account_recovery.py) through the real
Container, on both deployments (embedded: SQLite + SQL key-value store; production: PostgreSQL + Redis),
with a fixed clock: TOTP enrolment and verification, recovery codes, administrator-issued account
recovery codes."""

from __future__ import annotations

import base64
import logging
import re
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, unquote, urlsplit

import pyotp
import pytest

from lukhas_id.clock import FixedClock
from lukhas_id.domain.tenant import Tenant
from lukhas_id.domain.user import User
from lukhas_id.errors import AlreadyExists
from lukhas_id.services.account_recovery import AccountRecoveryRefused
from lukhas_id.services.totp import TotpEnrolment
from tests.support.harness import Harness

CODE_FORMAT = re.compile(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}")


async def user(h: Harness, name: str = "alice", tenant: str | None = None) -> tuple[Tenant, User]:
    t = await h.tenant(tenant)
    return t, await h.c.users.create(t, name)


def failures(h: Harness, factor: str) -> float:
    value = h.c.metrics.registry.get_sample_value("identity_second_factor_failures_total", {"factor": factor})
    return value or 0.0


def code_at(enrolment: TotpEnrolment, clock: FixedClock, steps: int = 0) -> str:
    return pyotp.TOTP(enrolment.secret).at(clock.now() + 30 * steps)


async def enrolled(h: Harness, clock: FixedClock) -> tuple[Tenant, User, TotpEnrolment]:
    t, u = await user(h)
    e = await h.c.totp.begin_enrolment(t, u)
    assert await h.c.totp.confirm(t, u.lid, code_at(e, clock))
    clock.advance(30)  # the confirming code's step is used up
    return t, u, e


# --- TOTP ------------------------------------------------------------------------------------------


async def test_enrolment_uri_and_secret(hc: Harness) -> None:
    t, u = await user(hc, "alice@example.com")
    e = await hc.c.totp.begin_enrolment(t, u)
    assert len(base64.b32decode(e.secret + "=" * (-len(e.secret) % 8))) == 20  # 160 bits
    assert re.fullmatch(r"[A-Z2-7]{32}", e.secret) and e.secret_groups.replace(" ", "") == e.secret
    parts = urlsplit(e.uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == "/ΛiD:alice@example.com"
    query = {k: v[0] for k, v in parse_qs(parts.query, strict_parsing=True).items()}
    assert query == {"secret": e.secret, "issuer": "ΛiD", "algorithm": "SHA1", "digits": "6", "period": "30"}
    assert e.secret not in repr(e) and (e.algorithm, e.digits, e.period) == ("SHA1", 6, 30)
    # pyotp reads the URI back to the same parameters.
    parsed = pyotp.parse_uri(e.uri)
    assert isinstance(parsed, pyotp.TOTP) and parsed.secret == e.secret and parsed.issuer == "ΛiD"
    # Another tenant's entries are told apart in the app.
    t2, u2 = await user(hc, "alice", tenant="acme")
    e2 = await hc.c.totp.begin_enrolment(t2, u2)
    assert unquote(urlsplit(e2.uri).path) == "/ΛiD (acme):alice"
    assert e2.secret != e.secret


async def test_enrolment_qr_code_is_a_self_contained_inline_svg(hc: Harness) -> None:
    t, u = await user(hc)
    svg = (await hc.c.totp.begin_enrolment(t, u)).qr_svg
    root = ET.fromstring(svg)  # noqa: S314 (our own output): well-formed
    assert root.tag == "svg" and svg.startswith("<svg ")
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg.upper()
    for external in ("href", "http:", "https:", "url(", "<image", "<script", "<style", "<foreignObject", "@import"):
        assert external not in svg
    assert {el.tag for el in root.iter()} <= {"svg", "g", "path"}
    assert int(root.attrib["width"]) >= 100


async def test_unconfirmed_factor_does_not_verify_and_confirm_takes_a_valid_code(
    hc: Harness, clock: FixedClock
) -> None:
    t, u = await user(hc)
    e = await hc.c.totp.begin_enrolment(t, u)
    assert not await hc.c.totp.enrolled(t, u.lid)
    assert not await hc.c.totp.verify(t, u.lid, code_at(e, clock))
    assert not await hc.c.totp.confirm(t, u.lid, "000000" if code_at(e, clock) != "000000" else "111111")
    assert not await hc.c.totp.confirm(t, u.lid, code_at(e, clock, 2))
    assert await hc.c.totp.confirm(t, u.lid, code_at(e, clock, -1))  # the window applies
    assert await hc.c.totp.enrolled(t, u.lid)
    assert not await hc.c.totp.confirm(t, u.lid, code_at(e, clock))  # nothing left to confirm
    # The confirming step and those before it are used up.
    assert not await hc.c.totp.verify(t, u.lid, code_at(e, clock, -1))
    assert await hc.c.totp.verify(t, u.lid, code_at(e, clock))


async def test_re_enrolment_replaces_a_pending_factor_not_a_confirmed_one(hc: Harness, clock: FixedClock) -> None:
    t, u = await user(hc)
    first = await hc.c.totp.begin_enrolment(t, u)
    second = await hc.c.totp.begin_enrolment(t, u)
    if code_at(first, clock) != code_at(second, clock):
        assert not await hc.c.totp.confirm(t, u.lid, code_at(first, clock))
    assert await hc.c.totp.confirm(t, u.lid, code_at(second, clock))
    with pytest.raises(AlreadyExists):
        await hc.c.totp.begin_enrolment(t, u)


async def test_window_of_one_step(hc: Harness, clock: FixedClock) -> None:
    t, u, e = await enrolled(hc, clock)
    clock.advance(60)  # every step from now-2 on is later than the confirming one
    before = failures(hc, "totp")
    assert not await hc.c.totp.verify(t, u.lid, code_at(e, clock, -2))
    assert not await hc.c.totp.verify(t, u.lid, code_at(e, clock, 2))
    assert await hc.c.totp.verify(t, u.lid, code_at(e, clock, -1))
    assert await hc.c.totp.verify(t, u.lid, code_at(e, clock, 0))
    assert await hc.c.totp.verify(t, u.lid, code_at(e, clock, 1))
    assert failures(hc, "totp") == before + 2


async def test_replay_and_older_codes_are_refused(hc: Harness, clock: FixedClock) -> None:
    t, u, e = await enrolled(hc, clock)
    now = code_at(e, clock)
    assert await hc.c.totp.verify(t, u.lid, now)
    assert not await hc.c.totp.verify(t, u.lid, now)  # the same code again, same step
    clock.advance(10)
    assert not await hc.c.totp.verify(t, u.lid, now)  # still inside the window
    # A newer code (a fast clock), then an older one: the older is refused.
    clock.advance(30)
    newer, older = code_at(e, clock, 1), code_at(e, clock, 0)
    assert await hc.c.totp.verify(t, u.lid, newer)
    if older != newer:
        assert not await hc.c.totp.verify(t, u.lid, older)
    clock.advance(60)
    assert await hc.c.totp.verify(t, u.lid, code_at(e, clock))


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "12345a", "١٢٣٤٥٦", " 12345", "123456\n", "x" * 10_000])
async def test_malformed_codes_are_simply_wrong(hc: Harness, clock: FixedClock, bad: str) -> None:
    t, u, _ = await enrolled(hc, clock)
    assert not await hc.c.totp.verify(t, u.lid, bad)
    assert failures(hc, "totp") == 1.0


async def test_removal(hc: Harness, clock: FixedClock) -> None:
    t, u, e = await enrolled(hc, clock)
    assert await hc.c.totp.remove(t, u.lid)
    assert not await hc.c.totp.remove(t, u.lid)
    assert not await hc.c.totp.enrolled(t, u.lid)
    assert not await hc.c.totp.verify(t, u.lid, code_at(e, clock))
    fresh = await hc.c.totp.begin_enrolment(t, u)  # and a new one can be enrolled
    assert fresh.secret != e.secret


async def test_factors_are_per_user(hc: Harness, clock: FixedClock) -> None:
    t, alice, e = await enrolled(hc, clock)
    _, bob = await user(hc, "bob")
    assert not await hc.c.totp.verify(t, bob.lid, code_at(e, clock))
    other = await hc.tenant("acme")
    assert not await hc.c.totp.verify(other, alice.lid, code_at(e, clock))
    assert await hc.c.totp.verify(t, alice.lid, code_at(e, clock))


# --- recovery codes --------------------------------------------------------------------------------


async def test_recovery_codes_format_and_single_use(hc: Harness) -> None:
    t, u = await user(hc)
    codes = await hc.c.recovery_codes.generate(t, u.lid)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(CODE_FORMAT.fullmatch(c) for c in codes)
    assert await hc.c.recovery_codes.remaining(t, u.lid) == 10
    assert await hc.c.recovery_codes.use(t, u.lid, codes[0])
    assert not await hc.c.recovery_codes.use(t, u.lid, codes[0])
    assert await hc.c.recovery_codes.remaining(t, u.lid) == 9
    assert failures(hc, "recovery_code") == 1.0
    # Another user cannot use them.
    _, bob = await user(hc, "bob")
    assert not await hc.c.recovery_codes.use(t, bob.lid, codes[1])
    assert await hc.c.recovery_codes.remaining(t, u.lid) == 9


async def test_recovery_code_entry_is_forgiving(hc: Harness) -> None:
    t, u = await user(hc)
    codes = await hc.c.recovery_codes.generate(t, u.lid)
    assert await hc.c.recovery_codes.use(t, u.lid, codes[0].lower().replace("-", ""))
    assert await hc.c.recovery_codes.use(t, u.lid, " " + codes[1].replace("-", " ") + " ")
    assert await hc.c.recovery_codes.use(t, u.lid, codes[2].replace("0", "O").replace("1", "l").lower())
    for bad in ("", "ABCDE", codes[3] + "X", codes[3].replace("-", "_"), "Ü" * 10, "x" * 1000):
        assert not await hc.c.recovery_codes.use(t, u.lid, bad)
    assert await hc.c.recovery_codes.remaining(t, u.lid) == 7


async def test_regenerating_invalidates_the_old_set(hc: Harness) -> None:
    t, u = await user(hc)
    old = await hc.c.recovery_codes.generate(t, u.lid)
    assert await hc.c.recovery_codes.use(t, u.lid, old[0])
    new = await hc.c.recovery_codes.generate(t, u.lid)
    assert not set(old) & set(new)
    assert await hc.c.recovery_codes.remaining(t, u.lid) == 10
    assert not await hc.c.recovery_codes.use(t, u.lid, old[1])
    assert await hc.c.recovery_codes.use(t, u.lid, new[1])
    await hc.c.recovery_codes.remove(t, u.lid)
    assert await hc.c.recovery_codes.remaining(t, u.lid) == 0


async def test_recovery_codes_are_stored_only_as_keyed_hashes(hc: Harness) -> None:
    from sqlalchemy import text

    t, u = await user(hc)
    codes = await hc.c.recovery_codes.generate(t, u.lid)
    async with hc.c.database.read() as session:
        stored: list[str] = list((await session.execute(text("SELECT code_hash FROM recovery_codes"))).scalars())
    assert len(stored) == 10
    for code in codes:
        assert not any(code.replace("-", "") in s or code in s for s in stored)


# --- account recovery --------------------------------------------------------------------------------


async def test_account_recovery_issue_and_redeem_once(hc: Harness) -> None:
    t, u = await user(hc, "Alice")
    code = await hc.c.account_recovery.issue(t, u)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", code)  # URL-safe, >= 128 bits
    redeemed = await hc.c.account_recovery.redeem(t, "alice", code)  # username lookup ignores case
    assert redeemed is not None and redeemed.lid == u.lid
    assert await hc.c.account_recovery.redeem(t, "alice", code) is None
    assert failures(hc, "account_recovery") == 1.0


async def test_account_recovery_code_expires_after_ten_minutes(hc: Harness, clock: FixedClock) -> None:
    t, u = await user(hc)
    code = await hc.c.account_recovery.issue(t, u)
    clock.advance(599)
    assert await hc.c.account_recovery.redeem(t, "alice", code) is not None
    code = await hc.c.account_recovery.issue(t, u)
    clock.advance(600)
    assert await hc.c.account_recovery.redeem(t, "alice", code) is None


async def test_account_recovery_code_is_bound_to_its_user_and_tenant(hc: Harness) -> None:
    t, _ = await user(hc)
    _, bob = await user(hc, "bob")
    code = await hc.c.account_recovery.issue(t, bob)
    assert await hc.c.account_recovery.redeem(t, "alice", code) is None
    # Any presentation spends it: not even its own user can use it afterwards.
    assert await hc.c.account_recovery.redeem(t, "bob", code) is None
    code = await hc.c.account_recovery.issue(t, bob)
    other = await hc.tenant("acme")
    await hc.c.users.create(other, "bob")
    assert await hc.c.account_recovery.redeem(other, "bob", code) is None
    assert await hc.c.account_recovery.redeem(t, "nobody", "x") is None
    assert await hc.c.account_recovery.redeem(t, "bob", "") is None
    assert await hc.c.account_recovery.redeem(t, "bob", "not a code!") is None
    assert failures(hc, "account_recovery") == 6.0


async def test_reissuing_invalidates_the_previous_code(hc: Harness) -> None:
    t, u = await user(hc)
    first = await hc.c.account_recovery.issue(t, u)
    second = await hc.c.account_recovery.issue(t, u)
    assert first != second
    assert await hc.c.account_recovery.redeem(t, "alice", first) is None
    assert await hc.c.account_recovery.redeem(t, "alice", second) is not None


async def test_account_recovery_for_a_disabled_user(hc: Harness) -> None:
    t, u = await user(hc)
    code = await hc.c.account_recovery.issue(t, u)
    disabled = await hc.c.users.disable(t, "alice")
    assert await hc.c.account_recovery.redeem(t, "alice", code) is None
    with pytest.raises(AccountRecoveryRefused, match="disabled"):
        await hc.c.account_recovery.issue(t, disabled)


# --- nothing secret in logs ------------------------------------------------------------------------


async def test_nothing_secret_is_logged(hc: Harness, clock: FixedClock, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    t, u = await user(hc)
    e = await hc.c.totp.begin_enrolment(t, u)
    totp_codes = [code_at(e, clock), code_at(e, clock, 1), "999999"]
    await hc.c.totp.confirm(t, u.lid, totp_codes[0])
    await hc.c.totp.verify(t, u.lid, totp_codes[1])
    await hc.c.totp.verify(t, u.lid, totp_codes[2])
    codes = await hc.c.recovery_codes.generate(t, u.lid)
    await hc.c.recovery_codes.use(t, u.lid, codes[0])
    await hc.c.recovery_codes.use(t, u.lid, codes[0])
    recovery = await hc.c.account_recovery.issue(t, u)
    await hc.c.account_recovery.redeem(t, "alice", recovery)
    await hc.c.account_recovery.redeem(t, "alice", recovery)
    assert any("account recovery code issued" in r.getMessage() for r in caplog.records)
    logged = caplog.text + "".join(repr(vars(r)) for r in caplog.records)
    secret_bytes = base64.b32decode(e.secret + "=" * (-len(e.secret) % 8))
    for secret in [e.secret, e.uri, secret_bytes.hex(), recovery, *codes, *(c.replace("-", "") for c in codes)]:
        assert secret not in logged
    for code in totp_codes:
        assert not re.search(rf"(?<!\d){code}(?!\d)", logged)
