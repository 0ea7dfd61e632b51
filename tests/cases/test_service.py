"""Use cases end to end on a stored claim, with the real core check on tiny images."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from tests.cases.world import (
    build_world,
    edited_claim_photo,
    fake_result,
    state_of,
    submit,
    unrelated_photo,
)
from tests.dbsupport import Db
from vericlaim.cases import service
from vericlaim.cases.model import MediaUpload
from vericlaim.errors import (
    CorruptMedia,
    IdempotencyConflict,
    NotFound,
    PermissionDenied,
    RoleNotAllowed,
    TransitionNotAllowed,
    UnsupportedFormat,
)
from vericlaim.storage import audit
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import AnalysisJob, Claim, ClaimMedia, Clock, WebhookOutbox


def test_the_same_idempotency_key_creates_one_claim(db: Db) -> None:
    world = build_world(db)
    first = submit(db, world, key="order-1-claim", enqueue=True)
    again = submit(db, world, key="order-1-claim", enqueue=True)
    assert first == again
    with transaction(db.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Claim)) == 1
        assert s.scalar(select(func.count()).select_from(ClaimMedia)) == 1
        assert s.scalar(select(func.count()).select_from(AnalysisJob)) == 1
    with pytest.raises(IdempotencyConflict):
        submit(db, world, key="order-1-claim", amount_fen=1)
    assert submit(db, world, key="another-key") != first


def test_unusable_media_is_refused_before_anything_is_stored(db: Db) -> None:
    world = build_world(db)
    with pytest.raises(UnsupportedFormat), transaction(db.sessions) as s:
        service.submit_claim(
            s,
            db.ctx,
            world.platform,
            idempotency_key="k",
            order_id=world.order_id,
            buyer_id=world.buyer_id,
            claim_type="refund_only",
            amount_fen=100,
            media=[MediaUpload(b"just text, not a photo", "claim.jpg")],
        )
    with pytest.raises(CorruptMedia), transaction(db.sessions) as s:
        service.submit_claim(
            s,
            db.ctx,
            world.platform,
            idempotency_key="k",
            order_id=world.order_id,
            buyer_id=world.buyer_id,
            claim_type="refund_only",
            amount_fen=100,
            media=[MediaUpload(edited_claim_photo()[:300], "claim.jpg")],
        )
    with transaction(db.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Claim)) == 0


def test_a_doctored_photo_goes_to_the_merchant_with_a_longer_window_then_a_person_decides(
    db: Db,
) -> None:
    world = build_world(db)
    claim_id = submit(db, world)
    with transaction(db.sessions) as s:
        analysis = service.run_analysis(s, db.ctx, claim_id)
    assert analysis.verdict == "likely_manipulated"
    document = analysis.document
    assert document["schema"] == "vericlaim.verdict/1" and document["claim_id"] == claim_id
    assert json.loads(analysis.verdict_json) == document
    assert set(analysis.analyzer_versions) == {"reference_match", "provenance"}

    with transaction(db.sessions) as s:
        claim = service.get_claim(s, db.ctx, world.merchant, claim_id)
        clock = s.scalars(select(Clock).where(Clock.stopped_at.is_(None))).one()
    assert claim.state == "awaiting_merchant" and claim.auto_refund_paused
    hours = db.ctx.settings.merchant_response_hours + db.ctx.settings.suspicious_extension_hours
    assert (clock.due_at - db.clock()).total_seconds() == hours * 3600

    with pytest.raises(NotFound), transaction(db.sessions) as s:  # another shop sees nothing
        service.get_claim(s, db.ctx, world.other_merchant, claim_id)
    with pytest.raises(TransitionNotAllowed), transaction(db.sessions) as s:
        service.decide(s, db.ctx, world.reviewer, claim_id, outcome="denied", reason_code="x")

    db.clock.advance(hours=3)
    with transaction(db.sessions) as s:
        response = service.merchant_respond(
            s,
            db.ctx,
            world.merchant,
            claim_id,
            message="Packing photo attached: the teapot left intact.",
            media=[MediaUpload(unrelated_photo(seed=21), "packing.jpg")],
        )
    assert len(response.media_hashes) == 1
    assert state_of(db, claim_id, world.reviewer) == "in_review"
    with pytest.raises(RoleNotAllowed), transaction(db.sessions) as s:
        service.decide(s, db.ctx, world.merchant, claim_id, outcome="denied", reason_code="x")

    with transaction(db.sessions) as s:
        decision = service.decide(
            s,
            db.ctx,
            world.reviewer,
            claim_id,
            outcome="denied",
            reason_code="evidence.fabricated",
            fabricated_evidence=True,
        )
    assert decision.refund_fen == 0
    with transaction(db.sessions) as s:
        service.appeal(s, db.ctx, world.platform, claim_id, reason="the buyer disagrees")
    assert state_of(db, claim_id, world.reviewer) == "in_review"
    with transaction(db.sessions) as s:
        service.decide(
            s,
            db.ctx,
            world.reviewer,
            claim_id,
            outcome="partial",
            refund_fen=500,
            reason_code="goodwill",
        )
        service.close(s, db.ctx, world.admin, claim_id, reason_code="done")
    assert state_of(db, claim_id, world.reviewer) == "closed"

    with transaction(db.sessions) as s:
        report = audit.verify(s)
        actions = [
            e.action
            for e in s.scalars(
                select(audit.AuditEntry)
                .where(audit.AuditEntry.subject_id == claim_id)
                .order_by(audit.AuditEntry.seq)
            )
        ]
        decide_row = s.scalars(
            select(audit.AuditEntry).where(audit.AuditEntry.action == "claim.decide")
        ).first()
        webhooks = s.scalars(select(WebhookOutbox.tenant_id).distinct()).all()
    assert report.ok
    assert actions == [
        "claim.submitted",
        "claim.start_analysis",
        "claim.route_to_merchant",
        "claim.merchant_respond",
        "claim.decide",
        "claim.appeal",
        "claim.decide",
        "claim.close",
    ]
    assert decide_row is not None and decide_row.actor_id == world.reviewer.id
    assert decide_row.reason_code == "evidence.fabricated"
    assert len(decide_row.evidence_hashes) == 2  # the claim photo and the packing photo
    assert set(webhooks) == {world.platform.tenant_id, world.merchant.tenant_id}


def test_inconclusive_evidence_asks_the_buyer_and_the_reshoot_is_analysed_again(db: Db) -> None:
    world = build_world(db)
    claim_id = submit(db, world, photo=unrelated_photo())
    with transaction(db.sessions) as s:
        analysis = service.run_analysis(s, db.ctx, claim_id)
    assert analysis.recommended_action == "request_more_evidence"
    assert state_of(db, claim_id, world.platform) == "awaiting_buyer_evidence"
    with transaction(db.sessions) as s:
        claim = service.submit_buyer_evidence(
            s,
            db.ctx,
            world.platform,
            claim_id,
            media=[MediaUpload(edited_claim_photo(), "reshoot.jpg")],
        )
    assert claim.state == "analysing" and [m.role for m in claim.media] == ["claim", "reshoot"]
    with transaction(db.sessions) as s:
        assert s.scalar(select(func.count()).select_from(AnalysisJob)) == 1


@pytest.mark.parametrize(("amount", "expected"), [(5000, "auto_approved"), (5001, "in_review")])
def test_authentic_evidence_is_approved_automatically_only_when_small(
    db: Db, amount: int, expected: str
) -> None:
    world = build_world(db, amount_fen=amount)
    claim_id = submit(db, world, photo=unrelated_photo())
    with transaction(db.sessions) as s:
        claim = s.get(Claim, claim_id)
        assert claim is not None
        claim.state = "analysing"
    with transaction(db.sessions) as s:
        service.record_analysis(
            s, db.ctx, claim_id, fake_result(claim_id, "likely_authentic", "approve")
        )
    assert state_of(db, claim_id, world.platform) == expected


def test_a_claim_once_suspicious_is_never_refunded_automatically(db: Db) -> None:
    world = build_world(db, amount_fen=100)
    claim_id = submit(db, world)
    with transaction(db.sessions) as s:
        service.run_analysis(s, db.ctx, claim_id)  # likely_manipulated: refund paused
        claim = s.get(Claim, claim_id)
        assert claim is not None and claim.auto_refund_paused
        claim.state = "analysing"  # as after a re-shoot
    with transaction(db.sessions) as s:
        service.record_analysis(
            s, db.ctx, claim_id, fake_result(claim_id, "likely_authentic", "approve")
        )
    assert state_of(db, claim_id, world.platform) == "in_review"


def test_roles_and_tenants_are_enforced(db: Db) -> None:
    world = build_world(db)
    claim_id = submit(db, world)
    with pytest.raises(PermissionDenied), transaction(db.sessions) as s:
        service.submit_claim(
            s,
            db.ctx,
            world.merchant,
            idempotency_key="x",
            order_id=world.order_id,
            buyer_id=world.buyer_id,
            claim_type="refund_only",
            amount_fen=1,
            media=[MediaUpload(edited_claim_photo(), "c.jpg")],
        )
    with pytest.raises(NotFound), transaction(db.sessions) as s:
        service.register_product(
            s, db.ctx, world.other_merchant, merchant_id=world.merchant_id, sku="stolen"
        )
    with transaction(db.sessions) as s:
        assert [c.id for c in service.list_claims(s, db.ctx, world.merchant)] == [claim_id]
        assert service.list_claims(s, db.ctx, world.other_merchant) == []
        assert [c.id for c in service.list_claims(s, db.ctx, world.reviewer)] == [claim_id]
        issued = service.issue_api_key(
            s, db.ctx, world.admin, tenant_id=world.merchant.tenant_id or "", role="merchant"
        )
    with transaction(db.sessions) as s:
        actor = service.authenticate(s, issued.secret)
        assert actor is not None and actor.tenant_id == world.merchant.tenant_id
        assert service.authenticate(s, issued.secret + "x") is None
        service.revoke_api_key(s, db.ctx, world.admin, issued.id)
    with transaction(db.sessions) as s:
        assert service.authenticate(s, issued.secret) is None
