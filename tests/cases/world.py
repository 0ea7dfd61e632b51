"""A small world for service tests: a platform, a shop with a listing photo, an order
with a packing photo, a buyer, and an actor for every role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tests.conftest import encode, textured_image
from tests.dbsupport import Db
from vericlaim.cases import service
from vericlaim.cases.model import Actor, BuyerContact, MediaUpload
from vericlaim.cases.workflow import Role
from vericlaim.check import CheckResult
from vericlaim.storage.db import transaction

BUYER_PHONE = "+86 138-0013-8000"
BUYER_CONTACT = BuyerContact(
    name="张伟 Zhang Wei", phone="13800138000", address="上海市浦东新区世纪大道100号"
)


def listing_pixels() -> np.ndarray:
    return textured_image(320, 240, seed=3)


def edited_claim_photo() -> bytes:
    """The listing photo with a dark 'crack' painted on: derived from the merchant's photo."""
    pixels = listing_pixels().copy()
    pixels[100:140, 80:200] = (20, 20, 20)
    return encode(pixels, quality=92)


def unrelated_photo(seed: int = 9) -> bytes:
    return encode(textured_image(320, 240, seed=seed), quality=92)


@dataclass
class World:
    admin: Actor
    platform: Actor
    merchant: Actor
    other_merchant: Actor
    reviewer: Actor
    merchant_id: str
    product_id: str
    order_id: str
    buyer_id: str
    amount_fen: int


def build_world(db: Db, *, amount_fen: int = 12_900) -> World:
    admin = Actor("key_admin", Role.ADMIN, None)
    with transaction(db.sessions) as s:
        platform_t = service.create_tenant(s, db.ctx, admin, name="Platform", kind="platform")
        shop_t = service.create_tenant(s, db.ctx, admin, name="Shop", kind="merchant")
        other_t = service.create_tenant(s, db.ctx, admin, name="Other shop", kind="merchant")
        ops_t = service.create_tenant(s, db.ctx, admin, name="Operator", kind="operator")
    platform = Actor("key_platform", Role.PLATFORM, platform_t.id)
    merchant = Actor("key_merchant", Role.MERCHANT, shop_t.id)
    other = Actor("key_other", Role.MERCHANT, other_t.id)
    reviewer = Actor("key_reviewer", Role.REVIEWER, ops_t.id)
    with transaction(db.sessions) as s:
        shop = service.register_merchant(s, db.ctx, merchant, name="Teapots", external_ref="s1")
        product = service.register_product(s, db.ctx, merchant, merchant_id=shop.id, sku="TP-1")
        service.add_reference_media(
            s,
            db.ctx,
            merchant,
            product_id=product.id,
            upload=MediaUpload(encode(listing_pixels(), quality=95), "listing.jpg"),
        )
        buyer = service.register_buyer(
            s, db.ctx, platform, identifier=BUYER_PHONE, contact=BUYER_CONTACT
        )
        order = service.record_order(
            s,
            db.ctx,
            merchant,
            merchant_id=shop.id,
            product_id=product.id,
            external_ref="o-1",
            amount_fen=amount_fen,
            ordered_at=db.clock(),
            buyer_id=buyer.id,
        )
    return World(
        admin,
        platform,
        merchant,
        other,
        reviewer,
        shop.id,
        product.id,
        order.id,
        buyer.id,
        amount_fen,
    )


def submit(
    db: Db,
    world: World,
    *,
    key: str = "k-1",
    photo: bytes | None = None,
    amount_fen: int | None = None,
    claim_type: str = "refund_only",
    enqueue: bool = False,
) -> str:
    with transaction(db.sessions) as s:
        submitted = service.submit_claim(
            s,
            db.ctx,
            world.platform,
            idempotency_key=key,
            order_id=world.order_id,
            buyer_id=world.buyer_id,
            claim_type=claim_type,
            amount_fen=amount_fen or world.amount_fen,
            reason_text="茶壶有裂痕 the teapot arrived cracked",
            media=[MediaUpload(photo or edited_claim_photo(), "claim.jpg")],
            enqueue=enqueue,
        )
    return submitted.claim.id


def fake_result(claim_id: str, verdict: str, action: str, sha256: str = "0" * 64) -> CheckResult:
    """A verdict document of the core's shape, for routing tests that need a verdict the
    tiny test images cannot produce (an independent photo confirmed as authentic)."""
    document: dict[str, Any] = {
        "schema": "vericlaim.verdict/1",
        "claim_id": claim_id,
        "verdict": verdict,
        "risk_score": 90 if action == "human_review" else 0,
        "recommended_action": action,
        "reasons": [],
        "media": [{"media_id": "claim.jpg", "sha256": sha256, "role": "claim", "findings": []}],
        "analyzers": {"reference_match": "test"},
        "policy_version": "test",
    }
    return CheckResult(document, (), (), {})


def state_of(db: Db, claim_id: str, actor: Actor) -> str:
    with transaction(db.sessions) as s:
        return service.get_claim(s, db.ctx, actor, claim_id).state
