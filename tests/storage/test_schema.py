from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from vericlaim.cli import app
from vericlaim.storage import migrate
from vericlaim.storage.db import make_engine, session_factory, transaction
from vericlaim.storage.tables import Base, Tenant


def _assert_matches_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        assert migrate.current_revision(connection) == migrate.head_revision()


def test_alembic_creates_exactly_the_model_schema_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(url=url)
    migrate.upgrade(url=url)  # a second upgrade is a no-op
    engine = make_engine(url)
    try:
        _assert_matches_models(engine)
    finally:
        engine.dispose()


def test_alembic_creates_exactly_the_model_schema_on_postgresql(pg_schema_factory: Any) -> None:
    schema, url = pg_schema_factory()
    engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        with engine.begin() as connection:
            migrate.upgrade(connection=connection)
        _assert_matches_models(engine)
    finally:
        engine.dispose()


def test_db_upgrade_command_creates_the_default_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERICLAIM_DATA_DIR", str(tmp_path / "data"))
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "vericlaim.db").is_file()
    assert "revision head" in result.stdout


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'nested' / 'x.db'}")
    try:
        with engine.connect() as c:
            assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert c.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert c.execute(text("PRAGMA busy_timeout")).scalar() == 30000
    finally:
        engine.dispose()


def test_no_engine_is_built_at_import_time() -> None:
    import vericlaim.storage.db as db_module

    assert not any(isinstance(v, Engine) for v in vars(db_module).values())


def test_timestamps_come_back_as_aware_utc_and_naive_ones_are_refused(engine: Engine) -> None:
    sessions = session_factory(engine)
    beijing = timezone(timedelta(hours=8))
    with transaction(sessions) as s:
        s.add(
            Tenant(
                id="ten_1",
                name="t",
                kind="platform",
                created_at=datetime(2026, 3, 2, 17, 0, tzinfo=beijing),
            )
        )
    with transaction(sessions) as s:
        tenant = s.get(Tenant, "ten_1", populate_existing=True)
        assert tenant is not None
        assert tenant.created_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        assert tenant.created_at.tzinfo is not None
    with pytest.raises(Exception, match="naive datetime"), transaction(sessions) as s:
        s.add(Tenant(id="ten_2", name="t", kind="platform", created_at=datetime(2026, 3, 2)))
