"""Encrypted material on SQL: the EncryptedMaterial port (ports/repositories.py), KEK rewrap in one transaction."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select, update

from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.models import AuditKeyRow, PasskeyRow, SigningKeyRow, TenantRow, TotpFactorRow


class SqlEncryptedMaterial:
    """EncryptedMaterial on SQL: re-encrypts tenants.id_secret_enc, signing_keys.private_enc,
    passkeys.data_enc, totp_factors.secret_enc and audit_keys.private_enc."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def rewrap(self, transform: Callable[[bytes], bytes]) -> int:
        """Re-encrypt every value in one transaction; if `transform` raises, nothing changes.

        The tenant rows are locked first (PostgreSQL ``FOR UPDATE``; SQLite: ``BEGIN IMMEDIATE``), so
        no key rotation or key insert interleaves and leaves a value under the old KEK.
        """
        async with self._db.transaction() as session:
            tenants = (
                await session.execute(
                    select(TenantRow.id, TenantRow.id_secret_enc).order_by(TenantRow.id).with_for_update()
                )
            ).all()
            keys = (
                await session.execute(select(SigningKeyRow.tenant_id, SigningKeyRow.kid, SigningKeyRow.private_enc))
            ).all()
            tenant_updates = [{"id": tid, "id_secret_enc": transform(bytes(enc))} for tid, enc in tenants]
            key_updates = [
                {"tenant_id": tid, "kid": kid, "private_enc": transform(bytes(enc))} for tid, kid, enc in keys
            ]
            passkeys = (
                await session.execute(select(PasskeyRow.tenant_id, PasskeyRow.handle, PasskeyRow.data_enc))
            ).all()
            totps = (
                await session.execute(select(TotpFactorRow.tenant_id, TotpFactorRow.user_lid, TotpFactorRow.secret_enc))
            ).all()
            passkey_updates = [
                {"tenant_id": tid, "handle": handle, "data_enc": transform(bytes(enc))} for tid, handle, enc in passkeys
            ]
            totp_updates = [
                {"tenant_id": tid, "user_lid": lid, "secret_enc": transform(bytes(enc))} for tid, lid, enc in totps
            ]
            audit_keys = (await session.execute(select(AuditKeyRow.kid, AuditKeyRow.private_enc))).all()
            audit_key_updates = [{"kid": kid, "private_enc": transform(bytes(enc))} for kid, enc in audit_keys]
            for row_type, updates in (
                (TenantRow, tenant_updates),
                (SigningKeyRow, key_updates),
                (PasskeyRow, passkey_updates),
                (TotpFactorRow, totp_updates),
                (AuditKeyRow, audit_key_updates),
            ):
                if updates:
                    await session.execute(update(row_type), updates)
        return (
            len(tenant_updates) + len(key_updates) + len(passkey_updates) + len(totp_updates) + len(audit_key_updates)
        )
