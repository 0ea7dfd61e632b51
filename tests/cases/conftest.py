"""Every test here runs on SQLite and on PostgreSQL (see tests/dbsupport.py)."""

from tests.dbsupport import db, engine, pg_engine, pg_schema_factory

__all__ = ["db", "engine", "pg_engine", "pg_schema_factory"]
