"""Buyers: registered by their platform under a keyed hash; their claim history."""

from __future__ import annotations

from fastapi import APIRouter

from vericlaim.api.deps import ServiceDep, allow
from vericlaim.api.schemas import BuyerCreate, BuyerHistoryPublic, BuyerPublic
from vericlaim.cases import service
from vericlaim.cases.model import BuyerContact
from vericlaim.cases.workflow import Role

router = APIRouter(tags=["buyers"])


@router.post(
    "/buyers",
    response_model=BuyerPublic,
    status_code=201,
    dependencies=[allow(Role.PLATFORM, Role.ADMIN)],
)
def register_buyer(body: BuyerCreate, run: ServiceDep) -> BuyerPublic:
    """Only the keyed hash of ``identifier`` is stored; contact data only encrypted."""
    contact = BuyerContact(body.name, body.phone, body.address)
    has_contact = any((body.name, body.phone, body.address))
    buyer = run(
        service.register_buyer, identifier=body.identifier, contact=contact if has_contact else None
    )
    return BuyerPublic(
        id=buyer.id, identity_hash=buyer.identity_hash, has_contact=buyer.has_contact
    )


@router.get(
    "/buyers/{buyer_id}/history",
    response_model=BuyerHistoryPublic,
    dependencies=[allow(Role.PLATFORM, Role.REVIEWER, Role.ADMIN)],
)
def buyer_history(buyer_id: str, run: ServiceDep) -> BuyerHistoryPublic:
    """Claims, refund-only rate, confirmed fabricated evidence, amounts, escalation flag."""
    return BuyerHistoryPublic.of(run(service.buyer_history, buyer_id))
