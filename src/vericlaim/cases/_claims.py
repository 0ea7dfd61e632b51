"""A claim's life: submission (idempotent), evidence, responses, decision, appeal, close."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import get_args

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vericlaim.cases import jobs
from vericlaim.cases._access import check_claim_access, require_role, require_tenant
from vericlaim.cases._catalogue import store_media
from vericlaim.cases._moves import load_claim, move, record_event
from vericlaim.cases.model import (
    Actor,
    AppealView,
    ClaimType,
    ClaimView,
    DecisionOutcome,
    DecisionView,
    EvidenceRequestView,
    MediaUpload,
    MerchantResponseView,
    ServiceContext,
    SubmittedClaim,
)
from vericlaim.cases.workflow import ClaimState, Event, Role
from vericlaim.errors import IdempotencyConflict, NotFound
from vericlaim.storage.audit import canonical_json
from vericlaim.storage.tables import (
    Appeal,
    Buyer,
    Claim,
    ClaimMedia,
    Clock,
    Decision,
    EvidenceRequest,
    Merchant,
    MerchantResponse,
    Order,
    ShippingEvidence,
    new_id,
)

__all__ = [
    "appeal",
    "claim_evidence_hashes",
    "close",
    "decide",
    "get_claim",
    "list_claims",
    "merchant_respond",
    "request_evidence",
    "submit_buyer_evidence",
    "submit_claim",
    "withdraw",
]

CLAIM_TYPES: tuple[str, ...] = get_args(ClaimType)
OUTCOMES: tuple[str, ...] = get_args(DecisionOutcome)


def _view(session: Session, claim: Claim) -> ClaimView:
    media = session.scalars(
        select(ClaimMedia).where(ClaimMedia.claim_id == claim.id).order_by(ClaimMedia.position)
    ).all()
    return ClaimView.of(claim, media)


def claim_evidence_hashes(session: Session, claim: Claim) -> list[str]:
    """Every file a decision on this claim can look at: the buyer's photos, the order's
    shipping evidence and the merchant's answers."""
    hashes = set(session.scalars(select(ClaimMedia.sha256).where(ClaimMedia.claim_id == claim.id)))
    hashes |= set(
        session.scalars(
            select(ShippingEvidence.sha256).where(ShippingEvidence.order_id == claim.order_id)
        )
    )
    for response in session.scalars(
        select(MerchantResponse.media_hashes).where(MerchantResponse.claim_id == claim.id)
    ):
        hashes |= set(response)
    return sorted(hashes)


def submit_claim(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    idempotency_key: str,
    order_id: str,
    buyer_id: str,
    claim_type: str,
    amount_fen: int,
    media: Sequence[MediaUpload],
    reason_text: str = "",
    currency: str = "CNY",
    enqueue: bool = True,
) -> SubmittedClaim:
    """Submit a claim with its photos; the same idempotency key from the same tenant
    returns the first claim (``created=False``) instead of creating a second one.

    With ``enqueue`` an analysis job is queued in the same transaction.

    Raises
    ------
    IdempotencyConflict
        The key was used before for a different request.
    EvidenceError
        A photo or video is unusable (nothing is stored for the claim).
    """
    require_role(actor, Role.PLATFORM, Role.ADMIN, action="submitting a claim")
    tenant_id = require_tenant(actor)
    if claim_type not in CLAIM_TYPES:
        raise ValueError(f"claim_type must be one of {CLAIM_TYPES}, not {claim_type!r}")
    if amount_fen <= 0:
        raise ValueError("amount_fen must be a positive number of fen")
    if not media:
        raise ValueError("a claim needs at least one photo or video")
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound("order", order_id)
    if session.get(Buyer, buyer_id) is None:
        raise NotFound("buyer", buyer_id)

    hashes = [store_media(session, ctx, upload, "claim") for upload in media]
    request = {
        "order_id": order_id,
        "buyer_id": buyer_id,
        "claim_type": claim_type,
        "reason_text": reason_text,
        "amount_fen": amount_fen,
        "currency": currency,
        "media": [[h, u.filename] for h, u in zip(hashes, media, strict=True)],
    }
    request_hash = hashlib.sha256(canonical_json(request).encode()).hexdigest()
    existing = _by_key(session, tenant_id, idempotency_key)
    if existing is not None:
        return _repeat(session, existing, request_hash)

    now = ctx.now()
    claim = Claim(
        id=new_id("clm"),
        tenant_id=tenant_id,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        order_id=order_id,
        buyer_id=buyer_id,
        claim_type=claim_type,
        reason_text=reason_text,
        amount_fen=amount_fen,
        currency=currency,
        state=ClaimState.RECEIVED.value,
        auto_refund_paused=False,
        escalated=False,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(claim)
            session.flush()
    except IntegrityError:
        # A concurrent request with the same key committed first.
        existing = _by_key(session, tenant_id, idempotency_key)
        if existing is None:
            raise
        return _repeat(session, existing, request_hash)
    for position, (sha256, upload) in enumerate(zip(hashes, media, strict=True)):
        session.add(
            ClaimMedia(
                id=new_id("med"),
                claim_id=claim.id,
                sha256=sha256,
                role="claim",
                filename=upload.filename,
                position=position,
                uploaded_at=now,
            )
        )
    record_event(
        session,
        claim,
        actor,
        now=now,
        action="claim.submitted",
        reason_code="claim.submitted",
        evidence_hashes=hashes,
        details={"claim_type": claim_type, "amount_fen": amount_fen, "order_id": order_id},
        webhook_event="claim.received",
    )
    job_id = jobs.enqueue(session, ctx, claim.id) if enqueue else None
    session.flush()
    return SubmittedClaim(_view(session, claim), True, job_id)


def _by_key(session: Session, tenant_id: str, key: str) -> Claim | None:
    return session.scalars(
        select(Claim).where(Claim.tenant_id == tenant_id, Claim.idempotency_key == key)
    ).one_or_none()


def _repeat(session: Session, claim: Claim, request_hash: str) -> SubmittedClaim:
    if claim.request_hash != request_hash:
        raise IdempotencyConflict(
            f"idempotency key {claim.idempotency_key!r} was used for a different claim"
        )
    return SubmittedClaim(_view(session, claim), False, None)


def get_claim(session: Session, ctx: ServiceContext, actor: Actor, claim_id: str) -> ClaimView:
    claim = load_claim(session, claim_id, lock=False)
    check_claim_access(session, actor, claim)
    return _view(session, claim)


def list_claims(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    state: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[ClaimView]:
    """Claims the actor may see, newest first."""
    query = select(Claim).order_by(Claim.created_at.desc(), Claim.id)
    if actor.role == Role.PLATFORM:
        query = query.where(Claim.tenant_id == actor.tenant_id)
    elif actor.role == Role.MERCHANT:
        query = (
            query.join(Order, Order.id == Claim.order_id)
            .join(Merchant, Merchant.id == Order.merchant_id)
            .where(Merchant.tenant_id == actor.tenant_id)
        )
    if state is not None:
        query = query.where(Claim.state == state)
    claims = session.scalars(query.limit(limit).offset(offset)).all()
    return [_view(session, c) for c in claims]


def _claim_for(session: Session, actor: Actor, claim_id: str) -> Claim:
    claim = load_claim(session, claim_id)
    check_claim_access(session, actor, claim)
    return claim


def request_evidence(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    claim_id: str,
    *,
    requested_from: str,
    message: str = "",
    reason_code: str = "",
) -> EvidenceRequestView:
    """A reviewer asks the buyer for a re-shoot or the merchant for its evidence."""
    claim = _claim_for(session, actor, claim_id)
    if requested_from not in ("buyer", "merchant"):
        raise ValueError("requested_from must be 'buyer' or 'merchant'")
    event = (
        Event.REQUEST_BUYER_EVIDENCE
        if requested_from == "buyer"
        else Event.REQUEST_MERCHANT_RESPONSE
    )
    now = ctx.now()
    move(
        session,
        ctx,
        claim,
        event,
        actor,
        now=now,
        reason_code=reason_code,
        details={"message": message},
    )
    clock = session.scalars(
        select(Clock).where(Clock.claim_id == claim.id, Clock.stopped_at.is_(None))
    ).one()
    request = EvidenceRequest(
        id=new_id("req"),
        claim_id=claim.id,
        requested_from=requested_from,
        message=message,
        requested_by=actor.id,
        created_at=now,
        due_at=clock.due_at,
    )
    session.add(request)
    session.flush()
    return EvidenceRequestView(request.id, claim.id, requested_from, message, clock.due_at)


def _fulfil_requests(session: Session, claim: Claim, party: str, ctx: ServiceContext) -> None:
    for request in session.scalars(
        select(EvidenceRequest).where(
            EvidenceRequest.claim_id == claim.id,
            EvidenceRequest.requested_from == party,
            EvidenceRequest.fulfilled_at.is_(None),
        )
    ):
        request.fulfilled_at = ctx.now()


def submit_buyer_evidence(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    claim_id: str,
    *,
    media: Sequence[MediaUpload],
    enqueue: bool = True,
) -> ClaimView:
    """The buyer's re-shoot (sent through the platform); the claim is analysed again."""
    claim = _claim_for(session, actor, claim_id)
    if not media:
        raise ValueError("a re-shoot needs at least one photo or video")
    hashes = [store_media(session, ctx, upload, "reshoot") for upload in media]
    now = ctx.now()
    move(session, ctx, claim, Event.BUYER_SUBMIT_EVIDENCE, actor, now=now, evidence_hashes=hashes)
    start = len(session.scalars(select(ClaimMedia.id).where(ClaimMedia.claim_id == claim.id)).all())
    for offset, (sha256, upload) in enumerate(zip(hashes, media, strict=True)):
        session.add(
            ClaimMedia(
                id=new_id("med"),
                claim_id=claim.id,
                sha256=sha256,
                role="reshoot",
                filename=upload.filename,
                position=start + offset,
                uploaded_at=now,
            )
        )
    _fulfil_requests(session, claim, "buyer", ctx)
    if enqueue:
        jobs.enqueue(session, ctx, claim.id)
    session.flush()
    return _view(session, claim)


def merchant_respond(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    claim_id: str,
    *,
    message: str,
    media: Sequence[MediaUpload] = (),
) -> MerchantResponseView:
    """The merchant's answer; its photos and videos join the order's shipping evidence,
    so a later analysis compares the claim with them too."""
    claim = _claim_for(session, actor, claim_id)
    order = session.get(Order, claim.order_id)
    assert order is not None
    hashes = [store_media(session, ctx, upload, "packing") for upload in media]
    now = ctx.now()
    move(
        session,
        ctx,
        claim,
        Event.MERCHANT_RESPOND,
        actor,
        now=now,
        evidence_hashes=hashes,
        details={"message": message},
    )
    for sha256, upload in zip(hashes, media, strict=True):
        session.add(
            ShippingEvidence(
                id=new_id("shp"),
                order_id=order.id,
                sha256=sha256,
                filename=upload.filename,
                captured_at=upload.captured_at,
                uploaded_at=now,
                uploaded_by=actor.id,
            )
        )
    response = MerchantResponse(
        id=new_id("rsp"),
        claim_id=claim.id,
        merchant_id=order.merchant_id,
        message=message,
        media_hashes=hashes,
        responded_by=actor.id,
        created_at=now,
    )
    session.add(response)
    _fulfil_requests(session, claim, "merchant", ctx)
    session.flush()
    return MerchantResponseView(response.id, claim.id, message, tuple(hashes))


def decide(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    claim_id: str,
    *,
    outcome: str,
    reason_code: str,
    refund_fen: int | None = None,
    note: str = "",
    fabricated_evidence: bool = False,
) -> DecisionView:
    """A person's decision. ``approved`` refunds the claim amount; ``partial`` needs a
    ``refund_fen`` strictly between 0 and the amount;
    ``denied`` refunds nothing. ``fabricated_evidence`` confirms fake evidence and counts
    in the buyer's record; it cannot go with an approval."""
    claim = _claim_for(session, actor, claim_id)
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    refund = {"approved": claim.amount_fen, "denied": 0}.get(outcome, refund_fen)
    if outcome == "partial" and (refund is None or not 0 < refund < claim.amount_fen):
        raise ValueError("a partial decision needs 0 < refund_fen < the claim amount")
    if fabricated_evidence and outcome == "approved":
        raise ValueError("a claim approved in full cannot have confirmed fabricated evidence")
    assert refund is not None
    now = ctx.now()
    move(
        session,
        ctx,
        claim,
        Event.DECIDE,
        actor,
        now=now,
        reason_code=reason_code,
        evidence_hashes=claim_evidence_hashes(session, claim),
        details={
            "outcome": outcome,
            "refund_fen": refund,
            "fabricated_evidence": fabricated_evidence,
        },
    )
    decision = Decision(
        id=new_id("dec"),
        claim_id=claim.id,
        outcome=outcome,
        refund_fen=refund,
        reason_code=reason_code,
        note=note,
        fabricated_evidence=fabricated_evidence,
        decided_by=actor.id,
        decided_at=now,
    )
    session.add(decision)
    session.flush()
    return DecisionView(
        decision.id, claim.id, outcome, refund, reason_code, fabricated_evidence, actor.id, now
    )


def appeal(
    session: Session, ctx: ServiceContext, actor: Actor, claim_id: str, *, reason: str
) -> AppealView:
    """Appeal a decision or an automatic approval within the window; review re-opens."""
    claim = _claim_for(session, actor, claim_id)
    now = ctx.now()
    move(session, ctx, claim, Event.APPEAL, actor, now=now, details={"reason": reason})
    row = Appeal(
        id=new_id("apl"),
        claim_id=claim.id,
        filed_by=actor.id,
        filed_by_role=actor.role.value,
        reason=reason,
        filed_at=now,
    )
    session.add(row)
    session.flush()
    return AppealView(row.id, claim.id, actor.id, actor.role.value, reason, now)


def close(
    session: Session, ctx: ServiceContext, actor: Actor, claim_id: str, *, reason_code: str = ""
) -> ClaimView:
    """Close a decided or automatically approved claim before its appeal window ends."""
    claim = _claim_for(session, actor, claim_id)
    move(session, ctx, claim, Event.CLOSE, actor, reason_code=reason_code)
    return _view(session, claim)


def withdraw(
    session: Session, ctx: ServiceContext, actor: Actor, claim_id: str, *, reason_code: str = ""
) -> ClaimView:
    """The buyer withdraws an undecided claim (through the platform)."""
    claim = _claim_for(session, actor, claim_id)
    move(session, ctx, claim, Event.WITHDRAW, actor, reason_code=reason_code)
    return _view(session, claim)
