"""The SLA clocks' pass: reminders before a window closes, timeouts when it has.

:func:`tick` takes the time as an argument and reads no other clock, so a scheduler
calls it every minute with the wall time and a test calls it with any time it likes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from vericlaim.cases._moves import load_claim, move
from vericlaim.cases.model import Actor, ServiceContext, TickReport
from vericlaim.cases.workflow import ClockKind, Event
from vericlaim.errors import WorkflowError
from vericlaim.storage.tables import Clock

__all__ = ["tick"]

_REMINDER = {
    ClockKind.MERCHANT_RESPONSE: Event.MERCHANT_REMINDER,
    ClockKind.BUYER_RESHOOT: Event.BUYER_REMINDER,
}
_TIMEOUT = {
    ClockKind.MERCHANT_RESPONSE: Event.MERCHANT_TIMEOUT,
    ClockKind.BUYER_RESHOOT: Event.BUYER_TIMEOUT,
    ClockKind.REVIEWER_FIRST_RESPONSE: Event.REVIEW_OVERDUE,
    ClockKind.APPEAL_WINDOW: Event.APPEAL_WINDOW_EXPIRED,
}


def tick(session: Session, ctx: ServiceContext, now: datetime) -> TickReport:
    """Send due reminders and apply the timeout transitions of every expired clock:
    a merchant or buyer who did not answer sends the claim to review, a missed review
    target escalates the claim, an appeal window that ended closes it."""
    actor = Actor.system("clock")
    reminders: list[tuple[str, str]] = []
    timeouts: list[tuple[str, str]] = []
    due_reminders = session.scalars(
        select(Clock)
        .where(Clock.stopped_at.is_(None), Clock.reminded_at.is_(None), Clock.remind_at <= now)
        .order_by(Clock.remind_at, Clock.id)
    ).all()
    for clock in due_reminders:
        claim = load_claim(session, clock.claim_id)
        session.refresh(clock)  # the claim's lock is held now: read the clock afresh
        if clock.stopped_at is not None or clock.due_at <= now:
            continue  # stopped meanwhile, or about to time out: no reminder needed
        event = _REMINDER[ClockKind(clock.kind)]
        move(session, ctx, claim, event, actor, now=now, details={"due_at": _iso(clock)})
        clock.reminded_at = now
        reminders.append((claim.id, event.value))
    expired = session.scalars(
        select(Clock)
        .where(Clock.stopped_at.is_(None), Clock.due_at <= now)
        .order_by(Clock.due_at, Clock.id)
    ).all()
    for clock in expired:
        claim = load_claim(session, clock.claim_id)
        session.refresh(clock)
        if clock.stopped_at is not None:
            continue
        kind = ClockKind(clock.kind)
        event = _TIMEOUT[kind]
        try:
            move(session, ctx, claim, event, actor, now=now, details={"due_at": _iso(clock)})
        except WorkflowError:
            # A clock left behind by a state it no longer matches: stop it, do not loop.
            clock.stopped_at, clock.outcome = now, "cancelled"
            continue
        if kind == ClockKind.REVIEWER_FIRST_RESPONSE:
            clock.stopped_at, clock.outcome = now, "expired"
            claim.escalated = True
        timeouts.append((claim.id, event.value))
    session.flush()
    return TickReport(tuple(reminders), tuple(timeouts))


def _iso(clock: Clock) -> str:
    return clock.due_at.isoformat()
