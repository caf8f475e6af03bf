"""SQL adapter: SQLAlchemy 2 (async) on SQLite (embedded default) and PostgreSQL, with Alembic migrations."""

from lukhas_id.adapters.sql.clients import SqlClientRepository
from lukhas_id.adapters.sql.database import Database
from lukhas_id.adapters.sql.keys import SqlSigningKeyRepository
from lukhas_id.adapters.sql.material import SqlEncryptedMaterial
from lukhas_id.adapters.sql.principals import SqlPrincipalRepository
from lukhas_id.adapters.sql.tenants import SqlTenantRepository
from lukhas_id.adapters.sql.token_state import SqlTokenStateStore
from lukhas_id.adapters.sql.users import SqlUserRepository

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
