"""Who may touch what: roles, and tenant scoping (a merchant sees only its own shops).

A record of another tenant reads as :class:`NotFound`, so its existence is not leaked;
a role that may never do something gets :class:`PermissionDenied`.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vericlaim.cases.model import Actor
from vericlaim.cases.workflow import Role
from vericlaim.errors import NotFound, PermissionDenied
from vericlaim.storage.tables import Claim, Merchant, Order

__all__ = ["check_claim_access", "check_merchant_access", "require_role", "sees_everything"]

_ALL_SEEING = frozenset({Role.REVIEWER, Role.ADMIN, Role.SYSTEM})


def sees_everything(actor: Actor) -> bool:
    return actor.role in _ALL_SEEING


def require_role(actor: Actor, *roles: Role, action: str) -> None:
    if actor.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise PermissionDenied(f"{action} is for {allowed}, not {actor.role.value}")


def require_tenant(actor: Actor) -> str:
    if actor.tenant_id is None:
        raise PermissionDenied(f"actor {actor.id} belongs to no tenant")
    return actor.tenant_id


def check_merchant_access(session: Session, actor: Actor, merchant_id: str) -> Merchant:
    """The merchant, if the actor may act for it (its own tenant, a platform, staff)."""
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound("merchant", merchant_id)
    if actor.role == Role.MERCHANT and merchant.tenant_id != actor.tenant_id:
        raise NotFound("merchant", merchant_id)
    return merchant


def check_claim_access(session: Session, actor: Actor, claim: Claim) -> None:
    """Staff see every claim; a platform the claims it submitted; a merchant the claims
    on its own shops' orders."""
    if sees_everything(actor):
        return
    if actor.role == Role.PLATFORM and claim.tenant_id == actor.tenant_id:
        return
    if actor.role == Role.MERCHANT:
        owner = session.scalar(
            select(Merchant.tenant_id)
            .join(Order, Order.merchant_id == Merchant.id)
            .where(Order.id == claim.order_id)
        )
        if owner is not None and owner == actor.tenant_id:
            return
    raise NotFound("claim", claim.id)
