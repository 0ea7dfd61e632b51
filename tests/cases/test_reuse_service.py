"""Reuse detection in the service: a claim photo already used in another claim is linked to
it in the verdict's ``duplicates``, stops automatic approval and survives a restart."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from tests.cases.world import World, build_world, state_of, submit
from tests.conftest import encode, textured_image
from tests.dbsupport import Db
from vericlaim.cases import service
from vericlaim.cases._reuse import REUSE_REASON, ClaimReuse
from vericlaim.cases.model import Actor, MediaUpload
from vericlaim.cases.workflow import Role
from vericlaim.reuse import Fingerprint
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import AuditEntry, Claim, ClaimMedia


def damage_pixels(seed: int = 21) -> np.ndarray:
    return textured_image(320, 240, seed=seed)


def original() -> bytes:
    return encode(damage_pixels(), quality=92)


@pytest.fixture
def rdb(db: Db) -> Db:
    db.ctx.reuse = ClaimReuse()
    return db


def other_platform_claim(db: Db, world: World, photo: bytes, *, key: str = "p2-1") -> str:
    """A claim from another platform, for an order of another shop and another buyer."""
    with transaction(db.sessions) as s:
        tenant = service.create_tenant(s, db.ctx, world.admin, name="Platform 2", kind="platform")
    platform2 = Actor("key_platform2", Role.PLATFORM, tenant.id)
    shop_actor = world.other_merchant
    with transaction(db.sessions) as s:
        shop = service.register_merchant(s, db.ctx, shop_actor, name="Cups", external_ref="s2")
        product = service.register_product(s, db.ctx, shop_actor, merchant_id=shop.id, sku="C-1")
        buyer = service.register_buyer(s, db.ctx, platform2, identifier="+86 139-0000-0002")
        order = service.record_order(
            s,
            db.ctx,
            shop_actor,
            merchant_id=shop.id,
            product_id=product.id,
            external_ref="o-2",
            amount_fen=world.amount_fen,
            ordered_at=db.clock(),
            buyer_id=buyer.id,
        )
    with transaction(db.sessions) as s:
        submitted = service.submit_claim(
            s,
            db.ctx,
            platform2,
            idempotency_key=key,
            order_id=order.id,
            buyer_id=buyer.id,
            claim_type="refund_only",
            amount_fen=world.amount_fen,
            reason_text="杯子碎了 the cup arrived broken",
            media=[MediaUpload(photo, "cup.jpg")],
        )
    return submitted.claim.id


def analyse(db: Db, claim_id: str) -> dict[str, Any]:
    with transaction(db.sessions) as s:
        return service.run_analysis(s, db.ctx, claim_id).document


def audit_reasons(db: Db, claim_id: str) -> list[str]:
    with transaction(db.sessions) as s:
        rows = s.scalars(
            select(AuditEntry).where(AuditEntry.subject_id == claim_id).order_by(AuditEntry.seq)
        )
        return [r.reason_code for r in rows]


@pytest.mark.parametrize(
    "copy",
    [
        lambda: encode(damage_pixels(), quality=60),
        lambda: encode(np.ascontiguousarray(damage_pixels()[:, ::-1]), quality=85),
    ],
    ids=["resaved", "mirrored"],
)
def test_a_photo_reused_in_another_claim_is_linked_to_it(rdb: Db, copy: Any) -> None:
    world = build_world(rdb)
    first = submit(rdb, world, photo=original())
    assert analyse(rdb, first)["duplicates"] == []
    second = other_platform_claim(rdb, world, copy())
    document = analyse(rdb, second)
    duplicates = document["duplicates"]
    assert duplicates, "the re-saved copy was not found"
    entry = duplicates[0]
    with transaction(rdb.sessions) as s:
        first_media = s.scalars(select(ClaimMedia).where(ClaimMedia.claim_id == first)).one()
        second_media = s.scalars(select(ClaimMedia).where(ClaimMedia.claim_id == second)).one()
        assert first_media.fingerprint is not None and second_media.fingerprint is not None
        Fingerprint.from_bytes(second_media.fingerprint)  # readable as stored
        claim = s.get(Claim, second)
        assert claim is not None and claim.auto_refund_paused
    assert entry["earlier_claim_id"] == first
    assert entry["earlier_media_id"] == first_media.id
    assert entry["claim_media_id"] == second_media.id
    assert entry["media_id"] in {m["media_id"] for m in document["media"]}
    assert entry["match"] == "perceptual" and entry["views_aligned"] >= 4
    assert entry["phash_distance"] <= 12 and entry["dhash_distance"] <= 12
    assert (entry["same_tenant"], entry["same_shop"], entry["same_buyer"]) == (False,) * 3
    assert "buyer_key" not in entry and "identity_hash" not in str(entry)
    assert REUSE_REASON in audit_reasons(rdb, second)
    assert state_of(rdb, second, world.admin) not in {"auto_approved", "awaiting_buyer_evidence"}


def test_an_exact_copy_is_found_by_its_sha256(rdb: Db) -> None:
    world = build_world(rdb)
    first = submit(rdb, world, photo=original())
    analyse(rdb, first)
    second = other_platform_claim(rdb, world, original())
    (entry,) = analyse(rdb, second)["duplicates"]
    assert entry["match"] == "sha256" and entry["earlier_claim_id"] == first


def _analyse_as_authentic(db: Db, claim_id: str) -> dict[str, Any]:
    """The real analysis with its verdict forced to the one that would auto-approve."""
    with transaction(db.sessions) as s:
        claim = s.get(Claim, claim_id)
        assert claim is not None
        claim.state = "analysing"
        inputs = service.analysis_inputs(s, claim_id)
    result = service.compute_analysis(db.ctx, inputs)
    result.verdict.update(
        verdict="likely_authentic", recommended_action="approve", risk_score=0, reasons=[]
    )
    with transaction(db.sessions) as s:
        return service.record_analysis(s, db.ctx, claim_id, result).document


def test_a_reused_photo_goes_to_review_not_automatic_approval(rdb: Db) -> None:
    world = build_world(rdb, amount_fen=100)
    first = submit(rdb, world, photo=original())
    assert _analyse_as_authentic(rdb, first)["duplicates"] == []
    assert state_of(rdb, first, world.admin) == "auto_approved"
    second = other_platform_claim(rdb, world, encode(damage_pixels(), quality=70))
    document = _analyse_as_authentic(rdb, second)
    assert [d["earlier_claim_id"] for d in document["duplicates"]] == [first]
    assert state_of(rdb, second, world.admin) == "in_review"
    assert audit_reasons(rdb, second)[-1] == REUSE_REASON


def test_a_different_photo_is_not_linked(rdb: Db) -> None:
    world = build_world(rdb, amount_fen=100)
    first = submit(rdb, world, photo=original())
    analyse(rdb, first)
    other = other_platform_claim(rdb, world, encode(damage_pixels(seed=22), quality=92))
    assert _analyse_as_authentic(rdb, other)["duplicates"] == []
    assert state_of(rdb, other, world.admin) == "auto_approved"
    assert REUSE_REASON not in audit_reasons(rdb, other)


def test_a_claims_own_photos_do_not_match_themselves(rdb: Db) -> None:
    world = build_world(rdb)
    photo = original()
    with transaction(rdb.sessions) as s:
        submitted = service.submit_claim(
            s,
            rdb.ctx,
            world.platform,
            idempotency_key="two-views",
            order_id=world.order_id,
            buyer_id=world.buyer_id,
            claim_type="refund_only",
            amount_fen=world.amount_fen,
            reason_text="two copies of one photo",
            media=[
                MediaUpload(photo, "a.jpg"),
                MediaUpload(encode(damage_pixels(), quality=70), "b.jpg"),
            ],
        )
    claim_id = submitted.claim.id
    assert analyse(rdb, claim_id)["duplicates"] == []
    # analysed again (as after a re-shoot): its photos are in the index now, still no match
    with transaction(rdb.sessions) as s:
        claim = s.get(Claim, claim_id)
        assert claim is not None
        claim.state = "analysing"
    assert analyse(rdb, claim_id)["duplicates"] == []


def test_the_reuse_is_still_found_after_a_restart(rdb: Db) -> None:
    world = build_world(rdb)
    first = submit(rdb, world, photo=original())
    analyse(rdb, first)
    rdb.ctx.reuse = ClaimReuse.from_database(rdb.sessions)  # a new process: index from the DB
    assert rdb.ctx.reuse.index.records()[0].claim_id == first
    second = other_platform_claim(rdb, world, encode(damage_pixels(), quality=60))
    assert [d["earlier_claim_id"] for d in analyse(rdb, second)["duplicates"]] == [first]


def test_without_a_reuse_index_nothing_is_looked_up(db: Db) -> None:
    world = build_world(db)
    first = submit(db, world, photo=original())
    analyse(db, first)
    second = other_platform_claim(db, world, original())
    assert analyse(db, second)["duplicates"] == []
    with transaction(db.sessions) as s:
        assert s.scalars(select(ClaimMedia.fingerprint)).all() == [None, None]


def test_the_api_rebuilds_the_index_from_the_database_at_start_up(rdb: Db) -> None:
    from dataclasses import replace

    from vericlaim.api import create_app

    world = build_world(rdb)
    first = submit(rdb, world, photo=original())
    analyse(rdb, first)
    context = replace(rdb.ctx, reuse=None)
    create_app(engine=rdb.engine, context=context)
    assert context.reuse is not None
    assert [r.claim_id for r in context.reuse.index.records()] == [first]
