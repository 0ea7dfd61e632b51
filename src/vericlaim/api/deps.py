"""Dependencies of the routes: the service (unit of work), the caller, the role checks.

The application's state (engine, sessions, service context, rate limiter) is built in
:func:`vericlaim.api.app.create_app` and reached through ``request.app.state``; nothing
here touches a database at import time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from vericlaim.api.limits import RateLimiter
from vericlaim.cases import service
from vericlaim.cases.model import Actor, ServiceContext
from vericlaim.cases.workflow import TRANSITIONS, Event, Role
from vericlaim.errors import PermissionDenied
from vericlaim.settings import Settings
from vericlaim.storage.db import transaction

__all__ = [
    "ApiState",
    "CurrentActor",
    "Service",
    "ServiceDep",
    "SettingsDep",
    "allow",
    "allow_event",
]

T = TypeVar("T")


@dataclass
class ApiState:
    """What one application holds for its lifetime."""

    sessions: sessionmaker[Session]
    ctx: ServiceContext
    limiter: RateLimiter


def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.vericlaim
    return state


def _settings(request: Request) -> Settings:
    return _state(request).ctx.settings


SettingsDep = Annotated[Settings, Depends(_settings)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer vck_...`")


def _current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "an API key is required", {"WWW-Authenticate": "Bearer"})
    state = _state(request)
    with transaction(state.sessions) as session:
        actor = service.authenticate(session, credentials.credentials)
    if actor is None:
        raise HTTPException(401, "unknown or revoked API key", {"WWW-Authenticate": "Bearer"})
    state.limiter.check(actor.id)
    return actor


CurrentActor = Annotated[Actor, Depends(_current_actor)]


class Service:
    """A use case of :mod:`vericlaim.cases.service` run as one unit of work for the caller."""

    def __init__(self, state: ApiState, actor: Actor) -> None:
        self.state = state
        self.actor = actor

    @property
    def ctx(self) -> ServiceContext:
        return self.state.ctx

    def __call__(self, use_case: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with transaction(self.state.sessions) as session:
            return use_case(session, self.state.ctx, self.actor, *args, **kwargs)


def _service(request: Request, actor: CurrentActor) -> Service:
    return Service(_state(request), actor)


ServiceDep = Annotated[Service, Depends(_service)]


def allow(*roles: Role) -> Any:
    """A route dependency: only these roles (403 for the others, before anything is read)."""

    def check(actor: CurrentActor) -> None:
        if actor.role not in roles:
            names = ", ".join(sorted(r.value for r in roles))
            raise PermissionDenied(f"this route is for {names}, not {actor.role.value}")

    return Depends(check)


def allow_event(event: Event) -> Any:
    """Only the roles the workflow table lets fire ``event`` (people only)."""
    roles = {role for t in TRANSITIONS if t.event == event for role in t.roles}
    return allow(*sorted(roles - {Role.SYSTEM}))
