"""Database fixtures for the storage and service tests: every test runs on SQLite (a file
in its tmp dir) and on PostgreSQL (a schema of its own per test session, dropped at the
end, so parallel runs never collide; skipped with the reason when the server is down).

``VERICLAIM_TEST_POSTGRES_URL`` points the PostgreSQL half elsewhere (default:
``postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from vericlaim.analyzers.provenance import ProvenanceAnalyzer
from vericlaim.analyzers.reference_match import ReferenceMatchAnalyzer
from vericlaim.cases.model import ServiceContext
from vericlaim.settings import get_settings
from vericlaim.storage.db import create_schema, make_engine, session_factory
from vericlaim.storage.tables import Base

PG_URL = os.environ.get(
    "VERICLAIM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class ManualClock:
    """The service's clock in tests: it moves only when told to."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Db:
    """One test's database: the engine, sessions, and a service context on a manual clock."""

    engine: Engine
    sessions: sessionmaker[Session]
    ctx: ServiceContext
    clock: ManualClock
    backend: str

    def session(self) -> Session:
        return self.sessions()


def _pg_admin_engine() -> Engine:
    engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    except OperationalError as exc:
        engine.dispose()
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {str(exc).splitlines()[0]}")
    return engine


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    """An engine whose search_path is a fresh schema holding the whole schema."""
    admin = _pg_admin_engine()
    schema = f"vc_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    # Commits need not survive a crash of the test server: skip the fsync wait.
    options = f"-csearch_path={schema} -csynchronous_commit=off"
    engine = make_engine(PG_URL, connect_args={"options": options})
    try:
        create_schema(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_schema_factory() -> Iterator[Any]:
    """Make extra empty schemas (for migration tests); all dropped at the end."""
    admin = _pg_admin_engine()
    made: list[str] = []

    def make() -> tuple[str, str]:
        schema = f"vc_test_{os.getpid()}_{secrets.token_hex(4)}"
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        made.append(schema)
        return schema, PG_URL

    try:
        yield make
    finally:
        with admin.begin() as connection:
            for schema in made:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _empty(engine: Engine) -> None:
    # DELETE, children first: on tables this small it is far faster than TRUNCATE.
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'vericlaim.db'}")
        create_schema(engine)
        yield engine
        engine.dispose()
    else:
        engine = request.getfixturevalue("pg_engine")
        _empty(engine)
        yield engine


@pytest.fixture
def db(engine: Engine, tmp_path: Path) -> Db:
    clock = ManualClock()
    settings = get_settings(data_dir=tmp_path / "data")
    ctx = ServiceContext.from_settings(
        settings,
        clock=clock,
        analyzers=[ReferenceMatchAnalyzer(), ProvenanceAnalyzer()],
    )
    return Db(engine, session_factory(engine), ctx, clock, engine.dialect.name)
