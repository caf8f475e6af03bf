"""Alembic migrations of the SQL schema, shipped in the package and run by `Database.upgrade()`."""
