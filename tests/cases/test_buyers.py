"""The buyer's record across claims, and the escalation flag at 3,000 CNY of fakes."""

from __future__ import annotations

from tests.cases.world import build_world, submit
from tests.dbsupport import Db
from vericlaim.cases import service
from vericlaim.cases.model import Actor
from vericlaim.cases.workflow import Role
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import Claim


def _decide(db: Db, claim_id: str, *, fabricated: bool) -> None:
    with transaction(db.sessions) as s:
        claim = s.get(Claim, claim_id)
        assert claim is not None
        claim.state = "in_review"
    with transaction(db.sessions) as s:
        service.decide(
            s,
            db.ctx,
            service_reviewer(),
            claim_id,
            outcome="denied" if fabricated else "approved",
            reason_code="evidence.fabricated" if fabricated else "ok",
            fabricated_evidence=fabricated,
        )


def service_reviewer() -> Actor:
    return Actor("key_reviewer", Role.REVIEWER, None)


def test_history_counts_and_flags_at_3000_cny_of_fabricated_claims(db: Db) -> None:
    world = build_world(db)
    fake_1 = submit(db, world, key="a", amount_fen=150_000)
    fake_2 = submit(db, world, key="b", amount_fen=149_999)
    honest = submit(db, world, key="c", amount_fen=20_000, claim_type="return_refund")
    _decide(db, fake_1, fabricated=True)
    _decide(db, honest, fabricated=False)
    with transaction(db.sessions) as s:
        history = service.buyer_history(s, db.ctx, world.reviewer, world.buyer_id)
    assert (history.claims, history.refund_only_claims) == (3, 2)
    assert history.refund_only_rate == 2 / 3
    assert (history.confirmed_fabricated, history.fabricated_amount_fen) == (1, 150_000)
    assert history.cumulative_amount_fen == 319_999
    assert not history.escalate
    _decide(db, fake_2, fabricated=True)
    with transaction(db.sessions) as s:
        history = service.buyer_history(s, db.ctx, world.reviewer, world.buyer_id)
    assert history.fabricated_amount_fen == 299_999 and not history.escalate
    db.clock.advance(hours=1)
    _decide(db, honest, fabricated=True)  # the honest-looking one, decided again on appeal
    with transaction(db.sessions) as s:
        history = service.buyer_history(s, db.ctx, world.reviewer, world.buyer_id)
    assert history.confirmed_fabricated == 3 and history.fabricated_amount_fen == 319_999
    assert history.escalate
