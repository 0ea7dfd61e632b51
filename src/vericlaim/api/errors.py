"""Typed errors to HTTP answers, and a 500 with a request id (never a traceback).

==========================================  ======
``NotFound`` (also another tenant's record)  404
``PermissionDenied``, ``RoleNotAllowed``     403
``WorkflowError``, ``IdempotencyConflict``   409
a duplicate or dangling reference (DB)       409
``LimitExceeded`` (file too large)           413
``EvidenceError``, ``ValueError``, invalid   422
rate limit                                   429 (``Retry-After``)
anything else                                500 (``request_id``)
==========================================  ======
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from vericlaim.api.limits import RateLimited, retry_after_header
from vericlaim.errors import (
    EvidenceError,
    IdempotencyConflict,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    RoleNotAllowed,
    WorkflowError,
)

__all__ = ["RequestIds", "install_error_handlers"]

log = logging.getLogger("vericlaim.api")

REQUEST_ID_HEADER = "X-Request-ID"


def _error(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Register one handler per typed error (most specific first)."""

    @app.exception_handler(NotFound)
    async def _not_found(_request: Request, exc: NotFound) -> JSONResponse:
        return _error(404, "not_found", str(exc))

    @app.exception_handler(PermissionDenied)
    async def _denied(_request: Request, exc: PermissionDenied) -> JSONResponse:
        return _error(403, "permission_denied", str(exc))

    @app.exception_handler(WorkflowError)
    async def _workflow(_request: Request, exc: WorkflowError) -> JSONResponse:
        if isinstance(exc, RoleNotAllowed):
            return _error(403, "role_not_allowed", str(exc))
        return _error(409, "workflow", str(exc), state=exc.state, event=exc.event)

    @app.exception_handler(IdempotencyConflict)
    async def _idempotency(_request: Request, exc: IdempotencyConflict) -> JSONResponse:
        return _error(409, "idempotency_conflict", str(exc))

    @app.exception_handler(IntegrityError)
    async def _integrity(_request: Request, exc: IntegrityError) -> JSONResponse:
        log.info("integrity error: %s", str(exc.orig).splitlines()[0] if exc.orig else exc)
        return _error(409, "conflict", "conflicts with an existing record or names a missing one")

    @app.exception_handler(EvidenceError)
    async def _evidence(_request: Request, exc: EvidenceError) -> JSONResponse:
        status = 413 if isinstance(exc, LimitExceeded) and "bytes" in exc.cause else 422
        return _error(status, "bad_evidence", str(exc), file=exc.source)

    @app.exception_handler(ValueError)
    async def _value(_request: Request, exc: ValueError) -> JSONResponse:
        return _error(422, "invalid", str(exc))

    @app.exception_handler(RateLimited)
    async def _rate(_request: Request, exc: RateLimited) -> JSONResponse:
        response = _error(429, "rate_limited", str(exc))
        response.headers["Retry-After"] = retry_after_header(exc)
        return response


class RequestIds:
    """ASGI middleware: a request id on every answer (``X-Request-ID``), and a JSON 500
    naming it for any error nobody handled; the traceback goes to the log only."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        started = False

        async def tagged(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        except Exception:
            log.exception("request %s failed", request_id)
            if started:
                raise
            response = JSONResponse(
                {"error": "internal", "detail": "internal error", "request_id": request_id},
                status_code=500,
                headers={REQUEST_ID_HEADER: request_id},
            )
            await response(scope, receive, send)
