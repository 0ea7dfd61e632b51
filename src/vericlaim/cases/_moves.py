"""Applying a workflow transition to a stored claim: state, clocks, audit, webhooks.

Every move of a claim goes through :func:`move`, so each one is checked against the
table, stops and starts the SLA clocks, and leaves an audit row (actor, time, reason
code, evidence hashes) and an outbox event in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vericlaim.cases.model import Actor, ServiceContext
from vericlaim.cases.workflow import (
    CLOCK_FOR_STATE,
    ClaimState,
    ClockKind,
    Event,
    Facts,
    Transition,
    fire,
)
from vericlaim.errors import NotFound
from vericlaim.storage import audit
from vericlaim.storage.tables import Analysis, Claim, Clock, Merchant, Order, WebhookOutbox, new_id

__all__ = ["facts_for", "load_claim", "move", "open_clocks", "record_event"]

_TIMEOUT_EVENTS = frozenset(
    {Event.MERCHANT_TIMEOUT, Event.BUYER_TIMEOUT, Event.APPEAL_WINDOW_EXPIRED}
)


def load_claim(session: Session, claim_id: str, *, lock: bool = True) -> Claim:
    """The claim row, locked for the rest of the transaction (PostgreSQL: FOR UPDATE)."""
    query = select(Claim).where(Claim.id == claim_id)
    if lock:
        query = query.with_for_update()
    claim = session.scalars(query).one_or_none()
    if claim is None:
        raise NotFound("claim", claim_id)
    return claim


def open_clocks(session: Session, claim_id: str) -> list[Clock]:
    return list(
        session.scalars(
            select(Clock).where(Clock.claim_id == claim_id, Clock.stopped_at.is_(None))
        ).all()
    )


def facts_for(
    session: Session,
    ctx: ServiceContext,
    claim: Claim,
    now: datetime,
    *,
    analysis: Analysis | None = None,
) -> Facts:
    """What the guards see; ``analysis`` is the one just recorded (else the latest)."""
    latest = (
        analysis
        or session.scalars(
            select(Analysis)
            .where(Analysis.claim_id == claim.id)
            .order_by(Analysis.created_at.desc(), Analysis.id.desc())
            .limit(1)
        ).one_or_none()
    )
    return Facts(
        now=now,
        amount_fen=claim.amount_fen,
        auto_approve_max_fen=ctx.settings.auto_approve_max_fen,
        verdict=latest.verdict if latest else None,
        recommended_action=latest.recommended_action if latest else None,
        auto_refund_paused=claim.auto_refund_paused,
        due={ClockKind(c.kind): c.due_at for c in open_clocks(session, claim.id)},
    )


def clock_duration(ctx: ServiceContext, kind: ClockKind, claim: Claim) -> timedelta:
    s = ctx.settings
    hours = {
        ClockKind.MERCHANT_RESPONSE: s.merchant_response_hours
        + (s.suspicious_extension_hours if claim.auto_refund_paused else 0.0),
        ClockKind.BUYER_RESHOOT: s.buyer_reshoot_hours,
        ClockKind.REVIEWER_FIRST_RESPONSE: s.reviewer_first_response_hours,
        ClockKind.APPEAL_WINDOW: s.appeal_window_hours,
    }[kind]
    return timedelta(hours=hours)


def reminder_time(ctx: ServiceContext, kind: ClockKind, started: datetime, due: datetime) -> Any:
    if kind not in (ClockKind.MERCHANT_RESPONSE, ClockKind.BUYER_RESHOOT):
        return None
    lead = min(timedelta(hours=ctx.settings.reminder_lead_hours), (due - started) / 2)
    return due - lead


def move(
    session: Session,
    ctx: ServiceContext,
    claim: Claim,
    event: Event,
    actor: Actor,
    *,
    now: datetime | None = None,
    reason_code: str = "",
    evidence_hashes: Sequence[str] = (),
    details: dict[str, Any] | None = None,
    analysis: Analysis | None = None,
) -> Transition:
    """Fire ``event`` on ``claim`` (locked by the caller) and record it."""
    now = now or ctx.now()
    facts = facts_for(session, ctx, claim, now, analysis=analysis)
    transition = fire(claim.state, event, actor.role, facts)
    source = ClaimState(claim.state)
    if transition.target != source:
        outcome = (
            "expired"
            if event in _TIMEOUT_EVENTS
            else "cancelled"
            if event == Event.WITHDRAW
            else "met"
        )
        for clock in open_clocks(session, claim.id):
            clock.stopped_at, clock.outcome = now, outcome
        kind = CLOCK_FOR_STATE.get(transition.target)
        if kind is not None:
            due = now + clock_duration(ctx, kind, claim)
            session.add(
                Clock(
                    id=new_id("clk"),
                    claim_id=claim.id,
                    kind=kind.value,
                    started_at=now,
                    due_at=due,
                    remind_at=reminder_time(ctx, kind, now, due),
                )
            )
        claim.state = transition.target.value
    claim.updated_at = now
    body = {"from": source.value, "to": transition.target.value, "event": event.value}
    record_event(
        session,
        claim,
        actor,
        now=now,
        action=f"claim.{event.value}",
        reason_code=reason_code or event.value,
        evidence_hashes=evidence_hashes,
        details={**body, **(details or {})},
        webhook_event=_webhook_event(event, transition, source),
    )
    session.flush()
    return transition


def _webhook_event(event: Event, transition: Transition, source: ClaimState) -> str:
    if transition.target != source:
        return "claim.state_changed"
    if event == Event.REVIEW_OVERDUE:
        return "claim.escalated"
    return "claim.reminder"


def record_event(
    session: Session,
    claim: Claim,
    actor: Actor,
    *,
    now: datetime,
    action: str,
    reason_code: str = "",
    evidence_hashes: Sequence[str] = (),
    details: dict[str, Any] | None = None,
    webhook_event: str | None = None,
) -> None:
    """An audit row about ``claim``, and, when ``webhook_event`` is given, one outbox
    event for the submitting tenant and one for the merchant's tenant."""
    audit.append(
        session,
        at=now,
        actor_id=actor.id,
        actor_role=actor.role.value,
        action=action,
        subject_type="claim",
        subject_id=claim.id,
        reason_code=reason_code,
        evidence_hashes=evidence_hashes,
        details=details,
    )
    if webhook_event is None:
        return
    payload = {
        "event": webhook_event,
        "claim_id": claim.id,
        "state": claim.state,
        "at": now.isoformat(),
        "reason_code": reason_code,
        **({"transition": details} if details else {}),
    }
    merchant_tenant = session.scalar(
        select(Merchant.tenant_id)
        .join(Order, Order.merchant_id == Merchant.id)
        .where(Order.id == claim.order_id)
    )
    for tenant_id in dict.fromkeys(t for t in (claim.tenant_id, merchant_tenant) if t):
        session.add(
            WebhookOutbox(
                id=new_id("whk"),
                tenant_id=tenant_id,
                claim_id=claim.id,
                event_type=webhook_event,
                payload_json=json.dumps(payload, ensure_ascii=False, sort_keys=True),
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
