"""``create_app(settings)``: the FastAPI application on the claim service.

Everything is built here, on call: the engine, the sessions, the service context and
the rate limiter. The OpenAPI schema is at ``/openapi.json``, its pages at ``/docs``.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from vericlaim import __version__
from vericlaim.api.deps import ApiState
from vericlaim.api.errors import RequestIds, install_error_handlers
from vericlaim.api.limits import BodySizeLimit, RateLimiter
from vericlaim.api.routes import ROUTERS
from vericlaim.cases.model import ServiceContext
from vericlaim.settings import Settings, get_settings
from vericlaim.storage.db import make_engine, session_factory

__all__ = ["create_app"]

DESCRIPTION = """Checks the photo evidence behind e-commerce after-sales claims.

Every route but `/health` needs an API key: `Authorization: Bearer vck_...`.
Money is in fen (CNY cents). Errors are JSON `{"error", "detail"}`; see docs/api.md."""


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    context: ServiceContext | None = None,
) -> FastAPI:
    """The application. ``engine`` and ``context`` replace the ones built from
    ``settings`` (tests pass a manual clock or a prepared database). A context without
    a reuse index gets one rebuilt from the database's stored fingerprints."""
    if context is not None:
        settings = context.settings
    settings = settings or get_settings()
    engine = engine or make_engine(settings=settings)
    context = context or ServiceContext.from_settings(settings)
    app = FastAPI(
        title=f"Vericlaim API {__version__}",
        version=__version__,
        description=DESCRIPTION,
    )
    sessions = session_factory(engine)
    if context.reuse is None:
        from vericlaim.cases._reuse import ClaimReuse

        context.reuse = ClaimReuse.from_database(sessions)
    app.state.vericlaim = ApiState(
        sessions=sessions,
        ctx=context,
        limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
    )
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=lambda: settings.max_request_bytes)
    app.add_middleware(RequestIds)
    return app
