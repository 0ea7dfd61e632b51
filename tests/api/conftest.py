"""API tests run on SQLite and on PostgreSQL (see tests/dbsupport.py), through FastAPI's
TestClient, with the service's manual clock and the core analyzers."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import encode, textured_image
from tests.dbsupport import Db, db, engine, pg_engine, pg_schema_factory
from vericlaim.api import create_app
from vericlaim.cases import service
from vericlaim.cases.model import Actor, ServiceContext
from vericlaim.cases.workflow import Role
from vericlaim.settings import get_settings
from vericlaim.storage.db import transaction

with warnings.catch_warnings():
    # Starlette 1.x would rather have httpx2; the httpx client it still supports is enough.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

__all__ = ["Api", "api", "db", "engine", "pg_engine", "pg_schema_factory"]

ROOT = Actor("bootstrap", Role.ADMIN, None)


def listing_photo() -> bytes:
    return encode(textured_image(320, 240, seed=3), quality=95)


def doctored_photo() -> bytes:
    """The listing photo with a dark 'crack' painted on: derived from the merchant's photo."""
    pixels = textured_image(320, 240, seed=3).copy()
    pixels[100:140, 80:200] = (20, 20, 20)
    return encode(pixels, quality=92)


@dataclass
class Api:
    """A client on a fresh database, tenants for two platforms and two shops, and keys."""

    client: TestClient
    db: Db
    ctx: ServiceContext
    tenants: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"} if who in self.keys else {}

    def key(self, tenant: str, role: Role, name: str) -> str:
        with transaction(self.db.sessions) as s:
            issued = service.issue_api_key(
                s, self.ctx, ROOT, tenant_id=self.tenants[tenant], role=role
            )
        self.keys[name] = issued.secret
        return issued.secret


def make_api(db: Db, tmp_path: Path, **settings: object) -> Iterator[Api]:
    options: dict[str, object] = {"data_dir": tmp_path / "api-data", "rate_limit_per_second": 0}
    options.update(settings)
    ctx = ServiceContext.from_settings(
        get_settings(**options), clock=db.clock, analyzers=db.ctx.analyzers
    )
    app = create_app(engine=db.engine, context=ctx)
    with TestClient(app, raise_server_exceptions=False) as client:
        api = Api(client, db, ctx)
        with transaction(db.sessions) as s:
            for name, kind in (
                ("platform", "platform"),
                ("platform_b", "platform"),
                ("shop", "merchant"),
                ("shop_b", "merchant"),
                ("operator", "operator"),
            ):
                api.tenants[name] = service.create_tenant(s, ctx, ROOT, name=name, kind=kind).id
        api.key("platform", Role.PLATFORM, "platform")
        api.key("platform_b", Role.PLATFORM, "platform_other")
        api.key("shop", Role.MERCHANT, "merchant")
        api.key("shop_b", Role.MERCHANT, "merchant_other")
        api.key("operator", Role.REVIEWER, "reviewer")
        api.key("operator", Role.ADMIN, "admin")
        yield api


@pytest.fixture
def api(db: Db, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(db, tmp_path)


@dataclass
class Shop:
    merchant_id: str
    product_id: str
    order_id: str
    buyer_id: str


def open_shop(api: Api, amount_fen: int = 12_900) -> Shop:
    """Through the API: a shop with a listing photo, a buyer and an order."""
    c, merchant = api.client, api.auth("merchant")
    shop = c.post("/merchants", json={"name": "Teapots", "external_ref": "s1"}, headers=merchant)
    assert shop.status_code == 201, shop.text
    merchant_id = shop.json()["id"]
    product = c.post(
        "/products", json={"merchant_id": merchant_id, "sku": "TP-1"}, headers=merchant
    )
    assert product.status_code == 201, product.text
    product_id = product.json()["id"]
    photo = c.post(
        f"/products/{product_id}/media",
        files={"file": ("listing.jpg", listing_photo(), "image/jpeg")},
        headers=merchant,
    )
    assert photo.status_code == 201, photo.text
    buyer = c.post(
        "/buyers",
        json={"identifier": "+86 138-0013-8000", "name": "张伟", "phone": "13800138000"},
        headers=api.auth("platform"),
    )
    assert buyer.status_code == 201, buyer.text
    order = c.post(
        "/orders",
        json={
            "merchant_id": merchant_id,
            "product_id": product_id,
            "external_ref": "o-1",
            "amount_fen": amount_fen,
            "ordered_at": "2026-03-01T10:00:00+00:00",
            "buyer_id": buyer.json()["id"],
        },
        headers=merchant,
    )
    assert order.status_code == 201, order.text
    return Shop(merchant_id, product_id, order.json()["id"], buyer.json()["id"])


def submit(
    api: Api,
    shop: Shop,
    *,
    key: str = "k-1",
    photos: list[tuple[str, bytes]] | None = None,
    who: str = "platform",
    amount_fen: int = 12_900,
) -> object:
    files = [("photos", (name, data, "image/jpeg")) for name, data in photos or []] or [
        ("photos", ("claim.jpg", doctored_photo(), "image/jpeg"))
    ]
    return api.client.post(
        "/claims",
        data={
            "order_id": shop.order_id,
            "buyer_id": shop.buyer_id,
            "claim_type": "refund_only",
            "amount_fen": str(amount_fen),
            "reason_text": "茶壶有裂痕 the teapot arrived cracked",
        },
        files=files,
        headers={**api.auth(who), "Idempotency-Key": key},
    )
