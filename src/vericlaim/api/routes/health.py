"""Liveness: the process answers and the database is reachable."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import text

from vericlaim import __version__
from vericlaim.api.schemas import Health
from vericlaim.storage.db import transaction

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    """No API key needed."""
    sessions = request.app.state.vericlaim.sessions
    with transaction(sessions) as session:
        session.execute(text("select 1"))
        dialect = session.get_bind().dialect.name
    return Health(status="ok", version=__version__, database=dialect)
