"""Analysis of a stored claim with the core check, and the routing that follows it.

Split in three so a worker can hold no transaction while it computes: read the inputs
(:func:`analysis_inputs`), run the core check on blobs re-hashed on read
(:func:`compute_analysis`), then record the verdict JSON unchanged and route the claim
(:func:`record_analysis`) in the transaction that completes the job.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vericlaim.cases._access import check_claim_access
from vericlaim.cases._moves import facts_for, load_claim, move
from vericlaim.cases._reuse import REUSE_REASON, PhotoToCheck, exact_copies_in_database
from vericlaim.cases.model import Actor, AnalysisView, ServiceContext
from vericlaim.cases.workflow import (
    SUSPICIOUS_VERDICTS,
    ClaimState,
    ClockKind,
    Event,
    route_after_analysis,
)
from vericlaim.check import CheckResult, check_claim
from vericlaim.errors import WorkflowError
from vericlaim.evidence import Evidence, Role, load_bytes
from vericlaim.storage.tables import (
    Analysis,
    Buyer,
    Claim,
    ClaimMedia,
    Clock,
    Merchant,
    Order,
    ReferenceMedia,
    ShippingEvidence,
    new_id,
)

__all__ = [
    "AnalysisInputs",
    "AnalysisResult",
    "analysis_inputs",
    "compute_analysis",
    "latest_analysis",
    "record_analysis",
    "run_analysis",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredMedia:
    sha256: str
    filename: str
    role: Role
    id: str = ""
    """The stored row's id (claim media only)."""


@dataclass(frozen=True, slots=True)
class AnalysisInputs:
    """What one analysis of a claim reads: its photos and the merchant's references."""

    claim_id: str
    claim_media: tuple[StoredMedia, ...]
    references: tuple[StoredMedia, ...]
    platform: str = ""
    """The submitting tenant (reuse records)."""
    shop: str = ""
    """The merchant's tenant (reuse records)."""
    buyer_key: str = ""
    """The buyer's keyed identity hash (reuse records)."""


@dataclass(frozen=True, slots=True)
class AnalysisResult(CheckResult):
    """The core's result, with the verdict's ``duplicates`` filled in, and the claim
    photos' reuse fingerprints to store (claim media id to ``Fingerprint.to_bytes()``)."""

    fingerprints: Mapping[str, bytes] = field(default_factory=dict)


def analysis_inputs(session: Session, claim_id: str) -> AnalysisInputs:
    claim = load_claim(session, claim_id, lock=False)
    order = session.get(Order, claim.order_id)
    assert order is not None
    claim_media = session.scalars(
        select(ClaimMedia).where(ClaimMedia.claim_id == claim.id).order_by(ClaimMedia.position)
    ).all()
    listing = session.scalars(
        select(ReferenceMedia)
        .where(ReferenceMedia.product_id == order.product_id)
        .order_by(ReferenceMedia.uploaded_at, ReferenceMedia.id)
    ).all()
    packing = session.scalars(
        select(ShippingEvidence)
        .where(ShippingEvidence.order_id == order.id)
        .order_by(ShippingEvidence.uploaded_at, ShippingEvidence.id)
    ).all()
    claim_roles: dict[str, Role] = {"claim": "claim", "reshoot": "reshoot"}
    shop = session.scalar(select(Merchant.tenant_id).where(Merchant.id == order.merchant_id))
    buyer_key = session.scalar(select(Buyer.identity_hash).where(Buyer.id == claim.buyer_id))
    return AnalysisInputs(
        claim.id,
        tuple(StoredMedia(m.sha256, m.filename, claim_roles[m.role], m.id) for m in claim_media),
        tuple(StoredMedia(m.sha256, m.filename, "listing") for m in listing)
        + tuple(StoredMedia(m.sha256, m.filename, "packing") for m in packing),
        platform=claim.tenant_id,
        shop=shop or "",
        buyer_key=buyer_key or "",
    )


def compute_analysis(
    ctx: ServiceContext,
    inputs: AnalysisInputs,
    *,
    progress: Callable[[str], None] | None = None,
    session: Session | None = None,
) -> CheckResult:
    """Run the core check on the stored bytes (each re-hashed on read). No database but
    the reuse index's catch-up.

    With a reuse index in ``ctx``, each claim photo is also looked up there (and then
    added): the verdict's ``duplicates`` lists the other claims it was used in, and the
    result is an :class:`AnalysisResult` carrying the fingerprints to store. Before the
    look-up the index catches up with the photos other processes analysed, through
    ``session`` when the caller holds a transaction, in one of its own otherwise.
    """
    taken: set[str] = set()

    def load(item: StoredMedia, index: int) -> Evidence:
        media_id = item.filename or f"{item.role}-{index + 1}"
        if media_id in taken:
            media_id = f"{item.role}-{index + 1}-{media_id}"
        taken.add(media_id)
        data = ctx.blobs.get(item.sha256)
        return load_bytes(
            data, source=item.filename, role=item.role, media_id=media_id, settings=ctx.settings
        )

    claim_media = [load(m, i) for i, m in enumerate(inputs.claim_media)]
    references = [load(m, i) for i, m in enumerate(inputs.references)]
    result = check_claim(
        claim_media,
        references,
        claim_id=inputs.claim_id,
        analyzers=ctx.analyzers,
        policy=ctx.policy,
        progress=progress,
    )
    if ctx.reuse is None:
        return result
    photos = [
        photo
        for stored, evidence in zip(inputs.claim_media, claim_media, strict=True)
        if (photo := _photo_to_check(inputs, stored, evidence)) is not None
    ]
    result.verdict["duplicates"] = ctx.reuse.check_and_add(photos, session=session)
    return AnalysisResult(
        result.verdict,
        result.claim_media,
        result.references,
        result.findings,
        fingerprints={p.record.media_id: p.fingerprint.to_bytes() for p in photos},
    )


def _photo_to_check(
    inputs: AnalysisInputs, stored: StoredMedia, evidence: Evidence
) -> PhotoToCheck | None:
    from vericlaim.reuse import ReuseRecord, fingerprint

    try:
        fp = fingerprint(evidence)
    except Exception:  # a photo the hashes cannot read is not a reason to fail the claim
        log.exception("claim %s: no reuse fingerprint for %s", inputs.claim_id, stored.id)
        return None
    record = ReuseRecord(
        claim_id=inputs.claim_id,
        media_id=stored.id,
        sha256=stored.sha256,
        tenant=inputs.shop,
        platform=inputs.platform,
        buyer_key=inputs.buyer_key,
    )
    return PhotoToCheck(evidence.media_id, record, fp)


def record_analysis(
    session: Session,
    ctx: ServiceContext,
    claim_id: str,
    result: CheckResult,
    *,
    job_id: str | None = None,
    now: datetime | None = None,
) -> AnalysisView:
    """Store the verdict JSON as the core produced it (with the service's ``duplicates``
    filled in), then route the claim.

    Suspicious evidence pauses any automatic refund for good and, when a merchant clock
    is running, extends it. A photo reused from another claim does the same and sends
    the claim to a person: never to automatic approval nor back to the buyer first.

    With reuse detection on, exact copies of the claim's photos uploaded earlier by other
    claims are looked up in the database here as well (in this transaction) and added to
    ``duplicates`` before the verdict is stored: a match another process's index has not
    seen yet is not lost.
    """
    now = now or ctx.now()
    claim = load_claim(session, claim_id)
    if claim.state != ClaimState.ANALYSING:
        raise WorkflowError(
            f"claim {claim.id} is {claim.state}, not analysing: the analysis is not recorded",
            state=claim.state,
            event="record_analysis",
        )
    verdict = result.verdict
    hashes = sorted({m["sha256"] for m in verdict.get("media", [])})
    if isinstance(result, AnalysisResult) and result.fingerprints:
        for row in session.scalars(
            select(ClaimMedia).where(ClaimMedia.id.in_(list(result.fingerprints)))
        ):
            row.fingerprint = result.fingerprints[row.id]
    duplicates = verdict.get("duplicates") or []
    if ctx.reuse is not None:
        # Exact copies from the database too: another process's index may not hold them
        # yet (both claims analysed at the same moment).
        duplicates = verdict["duplicates"] = duplicates + exact_copies_in_database(
            session, claim.id, _claim_media_ids(verdict), duplicates
        )
    analysis = Analysis(
        id=new_id("ana"),
        claim_id=claim.id,
        job_id=job_id,
        verdict_json=json.dumps(verdict, ensure_ascii=False),
        verdict=verdict["verdict"],
        risk_score=int(verdict["risk_score"]),
        recommended_action=verdict["recommended_action"],
        policy_version=str(verdict.get("policy_version", "")),
        analyzer_versions=dict(verdict.get("analyzers", {})),
        media_hashes=hashes,
        created_at=now,
    )
    session.add(analysis)
    session.flush()
    suspicious = verdict["verdict"] in SUSPICIOUS_VERDICTS or bool(duplicates)
    if suspicious and not claim.auto_refund_paused:
        claim.auto_refund_paused = True
        _extend_merchant_clock(session, ctx, claim)
    event = route_after_analysis(facts_for(session, ctx, claim, now, analysis=analysis))
    if duplicates and event in (Event.ROUTE_AUTO_APPROVE, Event.ROUTE_REQUEST_EVIDENCE):
        event = Event.ROUTE_TO_REVIEW
    reasons = verdict.get("reasons") or []
    reason_code = reasons[0]["code"] if reasons else f"verdict.{verdict['verdict']}"
    reuse_details: dict[str, object] = {}
    if duplicates:
        reuse_details = {"duplicates": len(duplicates), "verdict_reason": reason_code}
        reason_code = REUSE_REASON
    move(
        session,
        ctx,
        claim,
        event,
        Actor.system("analysis"),
        now=now,
        analysis=analysis,
        reason_code=reason_code,
        evidence_hashes=hashes,
        details={
            "analysis_id": analysis.id,
            "verdict": analysis.verdict,
            "risk_score": analysis.risk_score,
            "policy_version": analysis.policy_version,
            **reuse_details,
        },
    )
    return AnalysisView.of(analysis)


def _claim_media_ids(verdict: Mapping[str, Any]) -> dict[str, list[str]]:
    """The verdict's media ids of the claim's photos (not the references), by sha256."""
    ids: dict[str, list[str]] = {}
    for m in verdict.get("media") or []:
        if m.get("role") in ("claim", "reshoot"):
            ids.setdefault(m["sha256"], []).append(m["media_id"])
    return ids


def _extend_merchant_clock(session: Session, ctx: ServiceContext, claim: Claim) -> None:
    extra = timedelta(hours=ctx.settings.suspicious_extension_hours)
    for clock in session.scalars(
        select(Clock).where(
            Clock.claim_id == claim.id,
            Clock.kind == ClockKind.MERCHANT_RESPONSE.value,
            Clock.stopped_at.is_(None),
        )
    ):
        clock.due_at = clock.due_at + extra
        if clock.remind_at is not None:
            clock.remind_at = clock.remind_at + extra


def run_analysis(session: Session, ctx: ServiceContext, claim_id: str) -> AnalysisView:
    """Analyse a claim now, in this transaction (no job queue): for the CLI and tests."""
    claim = load_claim(session, claim_id)
    if claim.state == ClaimState.RECEIVED:
        move(session, ctx, claim, Event.START_ANALYSIS, Actor.system("analysis"))
    result = compute_analysis(ctx, analysis_inputs(session, claim_id), session=session)
    return record_analysis(session, ctx, claim_id, result)


def latest_analysis(
    session: Session, ctx: ServiceContext, actor: Actor, claim_id: str
) -> AnalysisView | None:
    claim = load_claim(session, claim_id, lock=False)
    check_claim_access(session, actor, claim)
    row = session.scalars(
        select(Analysis)
        .where(Analysis.claim_id == claim_id)
        .order_by(Analysis.created_at.desc(), Analysis.id.desc())
        .limit(1)
    ).one_or_none()
    return AnalysisView.of(row) if row else None
