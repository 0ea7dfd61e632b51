"""Engines and sessions, built on request from settings (never at import time).

SQLite is the embedded default: WAL (readers never wait for the writer), foreign keys
on, a busy timeout, and every transaction opened with ``BEGIN IMMEDIATE`` so two writers
queue for the lock at the start instead of failing when a reader turns writer.
PostgreSQL is reached through ``postgresql+psycopg://``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from vericlaim.settings import Settings, get_settings

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "create_schema",
    "make_engine",
    "session_factory",
    "transaction",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000


def make_engine(
    url: str | None = None, *, settings: Settings | None = None, **kwargs: Any
) -> Engine:
    """An engine for ``url`` (default: the settings' database URL).

    For a SQLite file the parent folder is created. ``kwargs`` go to
    :func:`sqlalchemy.create_engine`.
    """
    if url is None:
        url = (settings or get_settings()).resolved_database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(url, **kwargs)

    database = parsed.database or ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    else:  # one in-memory database, shared by every session
        kwargs.setdefault("poolclass", StaticPool)
    connect_args = kwargs.pop("connect_args", {})
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
    connect_args.setdefault("check_same_thread", False)
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver, so that BEGIN IMMEDIATE below is
        # the only BEGIN and PRAGMAs run outside any transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded attributes after commit (views are built after it)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit when the block ends, roll back when it raises."""
    with sessions() as session, session.begin():
        yield session


def create_schema(engine: Engine) -> None:
    """Create every table directly (tests, throwaway databases); production databases are
    created and upgraded with Alembic (``vericlaim db upgrade``)."""
    from vericlaim.storage.tables import Base

    Base.metadata.create_all(engine)
