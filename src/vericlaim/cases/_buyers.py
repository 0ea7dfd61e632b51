"""Buyers: a keyed identity, encrypted contact data, and the record across claims."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vericlaim.cases._access import require_role
from vericlaim.cases.model import Actor, BuyerContact, BuyerHistory, BuyerView, ServiceContext
from vericlaim.cases.workflow import Role
from vericlaim.errors import NotFound
from vericlaim.storage import audit
from vericlaim.storage.crypto import identity_hash
from vericlaim.storage.tables import Buyer, Claim, Decision, ExternalFraudRecord, new_id

__all__ = [
    "buyer_contact",
    "buyer_history",
    "find_buyer",
    "reencrypt_buyer_contacts",
    "register_buyer",
]


def register_buyer(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    identifier: str,
    contact: BuyerContact | None = None,
) -> BuyerView:
    """The buyer known by ``identifier`` (created on first sight); only the keyed hash of
    the identifier is stored, and the contact data only encrypted."""
    require_role(actor, Role.PLATFORM, Role.ADMIN, Role.SYSTEM, action="registering a buyer")
    digest = identity_hash(identifier, ctx.consortium_key)
    buyer = session.scalars(select(Buyer).where(Buyer.identity_hash == digest)).one_or_none()
    now = ctx.now()
    if buyer is None:
        buyer = Buyer(id=new_id("buy"), identity_hash=digest, created_at=now)
        session.add(buyer)
    if contact is not None:
        buyer.contact_ciphertext = ctx.keyring.encrypt(
            contact.to_bytes(), context=digest.encode("ascii")
        )
        buyer.contact_key_id = ctx.keyring.active_id
    audit.append(
        session,
        at=now,
        actor_id=actor.id,
        actor_role=actor.role.value,
        action="buyer.registered",
        subject_type="buyer",
        subject_id=buyer.id,
        details={"contact_updated": contact is not None},
    )
    session.flush()
    return BuyerView.of(buyer)


def find_buyer(session: Session, ctx: ServiceContext, identifier: str) -> BuyerView | None:
    """The buyer with this identifier, by its keyed hash (nothing is decrypted)."""
    digest = identity_hash(identifier, ctx.consortium_key)
    buyer = session.scalars(select(Buyer).where(Buyer.identity_hash == digest)).one_or_none()
    return BuyerView.of(buyer) if buyer else None


def buyer_contact(
    session: Session, ctx: ServiceContext, actor: Actor, buyer_id: str
) -> BuyerContact:
    """Decrypt a buyer's contact data (reviewers and admins only; the read is audited)."""
    require_role(actor, Role.REVIEWER, Role.ADMIN, action="reading buyer contact data")
    buyer = session.get(Buyer, buyer_id)
    if buyer is None or buyer.contact_ciphertext is None:
        raise NotFound("buyer contact", buyer_id)
    plain = ctx.keyring.decrypt(buyer.contact_ciphertext, context=buyer.identity_hash.encode())
    audit.append(
        session,
        at=ctx.now(),
        actor_id=actor.id,
        actor_role=actor.role.value,
        action="buyer.contact_read",
        subject_type="buyer",
        subject_id=buyer.id,
    )
    return BuyerContact.from_bytes(plain)


def reencrypt_buyer_contacts(session: Session, ctx: ServiceContext, *, batch: int = 500) -> int:
    """After a key rotation, re-encrypt every contact not under the active key; returns
    how many were re-encrypted. The old key may be removed once this returns 0."""
    active = ctx.keyring.active_id
    done = 0
    while True:
        buyers = session.scalars(
            select(Buyer)
            .where(Buyer.contact_ciphertext.is_not(None), Buyer.contact_key_id != active)
            .limit(batch)
        ).all()
        if not buyers:
            return done
        for buyer in buyers:
            context = buyer.identity_hash.encode("ascii")
            assert buyer.contact_ciphertext is not None
            plain = ctx.keyring.decrypt(buyer.contact_ciphertext, context=context)
            buyer.contact_ciphertext = ctx.keyring.encrypt(plain, context=context)
            buyer.contact_key_id = active
        done += len(buyers)
        session.flush()


def buyer_history(
    session: Session, ctx: ServiceContext, actor: Actor, buyer_id: str
) -> BuyerHistory:
    """Claims, refund-only rate, confirmed fabricated evidence and amounts for one buyer,
    with the confirmed-fraud records imported from other platforms for the same keyed
    identity; ``escalate`` once both fabricated amounts together reach
    ``fraud_escalation_fen``."""
    require_role(
        actor, Role.REVIEWER, Role.ADMIN, Role.PLATFORM, Role.SYSTEM, action="reading a history"
    )
    buyer = session.get(Buyer, buyer_id)
    if buyer is None:
        raise NotFound("buyer", buyer_id)
    totals = session.execute(
        select(
            func.count(Claim.id),
            func.count(Claim.id).filter(Claim.claim_type == "refund_only"),
            func.coalesce(func.sum(Claim.amount_fen), 0),
        ).where(Claim.buyer_id == buyer_id)
    ).one()
    claims, refund_only, cumulative = int(totals[0]), int(totals[1]), int(totals[2])
    # Each claim's latest decision only, one row per claim even when two decisions share a
    # timestamp (a re-decision after an appeal in the same clock tick).
    ranked = select(
        Decision.claim_id,
        Decision.fabricated_evidence,
        func.row_number()
        .over(
            partition_by=Decision.claim_id,
            order_by=(Decision.decided_at.desc(), Decision.id.desc()),
        )
        .label("rank"),
    ).subquery()
    fabricated = session.execute(
        select(func.count(Claim.id), func.coalesce(func.sum(Claim.amount_fen), 0))
        .join(ranked, ranked.c.claim_id == Claim.id)
        .where(
            Claim.buyer_id == buyer_id,
            ranked.c.rank == 1,
            ranked.c.fabricated_evidence.is_(True),
        )
    ).one()
    fabricated_count, fabricated_fen = int(fabricated[0]), int(fabricated[1])
    external = session.execute(
        select(
            func.count(ExternalFraudRecord.id),
            func.coalesce(func.sum(ExternalFraudRecord.amount_fen), 0),
        ).where(ExternalFraudRecord.identity_hash == buyer.identity_hash)
    ).one()
    external_count, external_fen = int(external[0]), int(external[1])
    return BuyerHistory(
        buyer_id=buyer.id,
        identity_hash=buyer.identity_hash,
        claims=claims,
        refund_only_claims=refund_only,
        refund_only_rate=refund_only / claims if claims else 0.0,
        confirmed_fabricated=fabricated_count,
        fabricated_amount_fen=fabricated_fen,
        cumulative_amount_fen=cumulative,
        escalate=fabricated_fen + external_fen >= ctx.settings.fraud_escalation_fen > 0,
        external_fabricated=external_count,
        external_fabricated_amount_fen=external_fen,
    )
