"""Alembic, driven from Python: ``vericlaim db upgrade`` and the tests use this.

No ``alembic.ini`` is needed. To write a new revision after changing ``tables.py``::

    python -m vericlaim.storage.migrate revision -m "what changed"
"""

from __future__ import annotations

import sys

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection

from vericlaim.settings import Settings, get_settings

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade"]


def alembic_config(url: str | None = None, *, connection: Connection | None = None) -> Config:
    """A configuration for ``url`` (default: the settings' database) or an open
    ``connection`` (which the migration then uses, in its transaction)."""
    config = Config()
    config.set_main_option("script_location", "vericlaim.storage:migrations")
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(
    revision: str = "head",
    *,
    url: str | None = None,
    settings: Settings | None = None,
    connection: Connection | None = None,
) -> None:
    """Bring the database up to ``revision`` (creating the schema on an empty one)."""
    if url is None and connection is None:
        url = (settings or get_settings()).resolved_database_url()
    command.upgrade(alembic_config(url, connection=connection), revision)


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _main(argv: list[str]) -> None:  # pragma: no cover - a developer's tool
    if not argv or argv[0] != "revision":
        raise SystemExit("usage: python -m vericlaim.storage.migrate revision -m MESSAGE")
    message = argv[argv.index("-m") + 1] if "-m" in argv else "schema change"
    config = alembic_config(get_settings().resolved_database_url())
    command.revision(config, message, autogenerate=True)


if __name__ == "__main__":  # pragma: no cover
    _main(sys.argv[1:])
