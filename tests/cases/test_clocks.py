"""SLA clocks driven by tick(now): reminders, timeouts, escalation, appeal window."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.cases.world import build_world, state_of, submit, unrelated_photo
from tests.dbsupport import Db
from vericlaim.cases import service
from vericlaim.cases.model import TickReport
from vericlaim.errors import GuardRejected
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import Claim, WebhookOutbox


def _tick(db: Db) -> TickReport:
    with transaction(db.sessions) as s:
        return service.tick(s, db.ctx, db.clock())


def test_merchant_window_reminds_then_times_out_to_review(db: Db) -> None:
    world = build_world(db)
    claim_id = submit(db, world)
    with transaction(db.sessions) as s:
        service.run_analysis(s, db.ctx, claim_id)  # suspicious: merchant window 48 h + 24 h
    assert state_of(db, claim_id, world.platform) == "awaiting_merchant"
    db.clock.advance(hours=59)
    assert _tick(db) == TickReport()
    db.clock.advance(hours=1)  # 12 h before the end
    report = _tick(db)
    assert report.reminders == ((claim_id, "merchant_reminder"),) and not report.timeouts
    assert _tick(db) == TickReport()  # one reminder only
    db.clock.advance(hours=12)
    report = _tick(db)
    assert report.timeouts == ((claim_id, "merchant_timeout"),)
    assert state_of(db, claim_id, world.platform) == "in_review"
    with transaction(db.sessions) as s:
        events = s.scalars(select(WebhookOutbox.event_type).order_by(WebhookOutbox.created_at))
        assert "claim.reminder" in list(events)


def test_buyer_reshoot_window_times_out_to_review(db: Db) -> None:
    world = build_world(db)
    claim_id = submit(db, world, photo=unrelated_photo())
    with transaction(db.sessions) as s:
        service.run_analysis(s, db.ctx, claim_id)
    assert state_of(db, claim_id, world.platform) == "awaiting_buyer_evidence"
    db.clock.advance(hours=48)
    report = _tick(db)
    assert report.timeouts == ((claim_id, "buyer_timeout"),)
    assert report.reminders == ()  # the window ended before any tick saw the reminder


def test_a_missed_review_target_escalates_once_and_the_appeal_window_closes_the_claim(
    db: Db,
) -> None:
    world = build_world(db)
    claim_id = submit(db, world, photo=unrelated_photo())
    with transaction(db.sessions) as s:
        service.run_analysis(s, db.ctx, claim_id)
    db.clock.advance(hours=48)
    _tick(db)  # buyer did not answer: in review
    db.clock.advance(hours=24)
    report = _tick(db)
    assert report.timeouts == ((claim_id, "review_overdue"),)
    assert _tick(db) == TickReport()
    with transaction(db.sessions) as s:
        claim = s.get(Claim, claim_id)
        assert claim is not None and claim.escalated and claim.state == "in_review"
        service.decide(s, db.ctx, world.reviewer, claim_id, outcome="approved", reason_code="ok")
    db.clock.advance(hours=167)
    assert _tick(db) == TickReport()
    db.clock.advance(hours=1)
    with pytest.raises(GuardRejected, match="within_appeal_window"), transaction(db.sessions) as s:
        service.appeal(s, db.ctx, world.merchant, claim_id, reason="too late")
    assert _tick(db).timeouts == ((claim_id, "appeal_window_expired"),)
    assert state_of(db, claim_id, world.platform) == "closed"
