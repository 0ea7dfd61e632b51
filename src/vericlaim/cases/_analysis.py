"""Analysis of a stored claim with the core check, and the routing that follows it.

Split in three so a worker can hold no transaction while it computes: read the inputs
(:func:`analysis_inputs`), run the core check on blobs re-hashed on read
(:func:`compute_analysis`), then record the verdict JSON unchanged and route the claim
(:func:`record_analysis`) in the transaction that completes the job.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vericlaim.cases._access import check_claim_access
from vericlaim.cases._moves import facts_for, load_claim, move
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
    Claim,
    ClaimMedia,
    Clock,
    Order,
    ReferenceMedia,
    ShippingEvidence,
    new_id,
)

__all__ = [
    "AnalysisInputs",
    "analysis_inputs",
    "compute_analysis",
    "latest_analysis",
    "record_analysis",
    "run_analysis",
]


@dataclass(frozen=True, slots=True)
class StoredMedia:
    sha256: str
    filename: str
    role: Role


@dataclass(frozen=True, slots=True)
class AnalysisInputs:
    """What one analysis of a claim reads: its photos and the merchant's references."""

    claim_id: str
    claim_media: tuple[StoredMedia, ...]
    references: tuple[StoredMedia, ...]


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
    return AnalysisInputs(
        claim.id,
        tuple(StoredMedia(m.sha256, m.filename, claim_roles[m.role]) for m in claim_media),
        tuple(StoredMedia(m.sha256, m.filename, "listing") for m in listing)
        + tuple(StoredMedia(m.sha256, m.filename, "packing") for m in packing),
    )


def compute_analysis(
    ctx: ServiceContext,
    inputs: AnalysisInputs,
    *,
    progress: Callable[[str], None] | None = None,
) -> CheckResult:
    """Run the core check on the stored bytes (each re-hashed on read). No database."""
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
    return check_claim(
        claim_media,
        references,
        claim_id=inputs.claim_id,
        analyzers=ctx.analyzers,
        policy=ctx.policy,
        progress=progress,
    )


def record_analysis(
    session: Session,
    ctx: ServiceContext,
    claim_id: str,
    result: CheckResult,
    *,
    job_id: str | None = None,
    now: datetime | None = None,
) -> AnalysisView:
    """Store the verdict JSON exactly as the core produced it, then route the claim.

    Suspicious evidence pauses any automatic refund for good and, when a merchant clock
    is running, extends it.
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
    if verdict["verdict"] in SUSPICIOUS_VERDICTS and not claim.auto_refund_paused:
        claim.auto_refund_paused = True
        _extend_merchant_clock(session, ctx, claim)
    event = route_after_analysis(facts_for(session, ctx, claim, now, analysis=analysis))
    reasons = verdict.get("reasons") or []
    move(
        session,
        ctx,
        claim,
        event,
        Actor.system("analysis"),
        now=now,
        analysis=analysis,
        reason_code=reasons[0]["code"] if reasons else f"verdict.{verdict['verdict']}",
        evidence_hashes=hashes,
        details={
            "analysis_id": analysis.id,
            "verdict": analysis.verdict,
            "risk_score": analysis.risk_score,
            "policy_version": analysis.policy_version,
        },
    )
    return AnalysisView.of(analysis)


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
    result = compute_analysis(ctx, analysis_inputs(session, claim_id))
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
