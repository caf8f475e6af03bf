"""SQL adapter: SQLAlchemy 2 (async) on SQLite (embedded default) and PostgreSQL, with Alembic migrations."""

from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.repositories import (
    SqlClientRepository,
    SqlEncryptedMaterial,
    SqlPrincipalRepository,
    SqlSigningKeyRepository,
    SqlTenantRepository,
    SqlUserRepository,
)
from lukhas_id.adapters.sql.token_state import SqlTokenStateStore

__all__ = [
    "Database",
    "SqlClientRepository",
    "SqlEncryptedMaterial",
    "SqlPrincipalRepository",
    "SqlSigningKeyRepository",
    "SqlTenantRepository",
    "SqlTokenStateStore",
    "SqlUserRepository",
]
