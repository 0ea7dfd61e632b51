"""The authorization matrix: every route × every role × own and other tenant.

``RULES`` says, for each route, which roles may call it and for which roles a record of
another tenant reads as 404. The test walks ``app.routes``: a route without a rule fails
it, so a new route cannot ship without a decision about who may call it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from starlette.routing import BaseRoute

from tests.api.conftest import Api, Shop, doctored_photo, listing_photo, open_shop, submit

PEOPLE = frozenset({"platform", "merchant", "reviewer", "admin"})
WHO = (
    "anonymous",
    "platform",
    "platform_other",
    "merchant",
    "merchant_other",
    "reviewer",
    "reviewer_other",
    "admin",
    "admin_other",
)
OK = "ok"
"""Authorized: the use case ran (a 409 of the workflow or a duplicate is fine; a 422 would
mean the request here is wrong, and would hide what the service decides)."""
RAN = frozenset({200, 201, 202, 409})


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str] = frozenset()
    scoped: frozenset[str] = frozenset()
    """Roles that see only their own tenant's records here (another's read as 404)."""
    public: bool = False


def rule(roles: str = "", scoped: str = "", *, public: bool = False) -> Rule:
    return Rule(frozenset(roles.split()), frozenset(scoped.split()), public)


ALL = "platform merchant reviewer admin"
SHOP = "merchant platform admin"

RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/health"): rule(public=True),
    ("GET", "/openapi.json"): rule(public=True),
    ("GET", "/docs"): rule(public=True),
    ("GET", "/docs/oauth2-redirect"): rule(public=True),
    ("GET", "/redoc"): rule(public=True),
    ("POST", "/tenants"): rule("admin"),
    ("POST", "/api-keys"): rule("admin"),
    ("GET", "/audit/verify"): rule("admin"),
    ("POST", "/merchants"): rule(SHOP),
    # Platforms host shops: a platform may act for any shop; a merchant only for its own.
    ("POST", "/products"): rule(SHOP, "merchant"),
    ("POST", "/products/{product_id}/media"): rule(SHOP, "merchant"),
    ("POST", "/orders"): rule(SHOP, "merchant"),
    ("POST", "/orders/{order_id}/shipping-evidence"): rule(SHOP, "merchant"),
    ("POST", "/buyers"): rule("platform admin"),
    # The buyer record is shared across platforms (keyed hash): no tenant scoping.
    ("GET", "/buyers/{buyer_id}/history"): rule("platform reviewer admin"),
    ("POST", "/claims"): rule("platform admin"),
    ("GET", "/claims"): rule(ALL),
    ("GET", "/claims/{claim_id}"): rule(ALL, "platform merchant"),
    ("GET", "/claims/{claim_id}/verdict"): rule(ALL, "platform merchant"),
    ("GET", "/claims/{claim_id}/media/{media_id}"): rule(ALL, "platform merchant"),
    ("POST", "/claims/{claim_id}/evidence-requests"): rule("reviewer admin"),
    ("POST", "/claims/{claim_id}/reshoots"): rule("platform admin", "platform"),
    ("POST", "/claims/{claim_id}/merchant-response"): rule("merchant", "merchant"),
    ("POST", "/claims/{claim_id}/decision"): rule("reviewer admin"),
    ("POST", "/claims/{claim_id}/appeal"): rule("merchant platform admin", "merchant platform"),
    ("POST", "/claims/{claim_id}/close"): rule("reviewer admin"),
    ("POST", "/claims/{claim_id}/withdraw"): rule("platform admin", "platform"),
}


def expected(route: Rule, who: str) -> int | str:
    if who == "anonymous":
        return 200 if route.public else 401
    if route.public:
        return 200
    role = who.removesuffix("_other")
    if role not in route.roles:
        return 403
    if who.endswith("_other") and role in route.scoped:
        return 404
    return OK


def walk(routes: list[BaseRoute]) -> Iterator[tuple[str, str]]:
    """(method, path) of every route, included routers flattened (HEAD goes with GET)."""
    for route in routes:
        nested = getattr(route, "effective_route_contexts", None)
        if nested is not None:
            for context in nested():
                for method in sorted(context.methods or ()):
                    if method != "HEAD":
                        yield method, context.path
            continue
        for method in sorted(getattr(route, "methods", None) or ()):
            if method != "HEAD":
                yield method, route.path  # type: ignore[attr-defined]


@dataclass
class Records:
    shop: Shop
    claim_id: str
    media_id: str
    tenants: dict[str, str] = field(default_factory=dict)


def _request(method: str, path: str, r: Records) -> dict[str, Any]:
    """A valid request for the route, so only authorization decides the answer."""
    photo = [("photos", ("again.jpg", doctored_photo(), "image/jpeg"))]
    bodies: dict[tuple[str, str], Callable[[], dict[str, Any]]] = {
        ("POST", "/tenants"): lambda: {"json": {"name": "T", "kind": "merchant"}},
        ("POST", "/api-keys"): lambda: {
            "json": {"tenant_id": r.tenants["shop"], "role": "merchant"}
        },
        ("POST", "/merchants"): lambda: {
            "json": {"name": "Shop 2", "tenant_id": r.tenants["shop"]}
        },
        ("POST", "/products"): lambda: {"json": {"merchant_id": r.shop.merchant_id, "sku": "X"}},
        ("POST", "/products/{product_id}/media"): lambda: {
            "files": {"file": ("l.jpg", listing_photo(), "image/jpeg")}
        },
        ("POST", "/orders"): lambda: {
            "json": {
                "merchant_id": r.shop.merchant_id,
                "product_id": r.shop.product_id,
                "amount_fen": 100,
                "ordered_at": "2026-03-01T10:00:00+00:00",
            }
        },
        ("POST", "/orders/{order_id}/shipping-evidence"): lambda: {
            "files": [("files", ("p.jpg", listing_photo(), "image/jpeg"))]
        },
        ("POST", "/buyers"): lambda: {"json": {"identifier": "buyer-2"}},
        ("POST", "/claims"): lambda: {
            "data": {
                "order_id": r.shop.order_id,
                "buyer_id": r.shop.buyer_id,
                "claim_type": "refund_only",
                "amount_fen": "500",
            },
            "files": photo,
            "headers": {"Idempotency-Key": "matrix"},
        },
        ("POST", "/claims/{claim_id}/evidence-requests"): lambda: {
            "json": {"requested_from": "buyer"}
        },
        ("POST", "/claims/{claim_id}/reshoots"): lambda: {"files": photo},
        ("POST", "/claims/{claim_id}/merchant-response"): lambda: {"data": {"message": "ok"}},
        ("POST", "/claims/{claim_id}/decision"): lambda: {
            "json": {"outcome": "denied", "reason_code": "test"}
        },
        ("POST", "/claims/{claim_id}/appeal"): lambda: {"json": {"reason": "disagree"}},
        ("POST", "/claims/{claim_id}/close"): lambda: {"json": {}},
        ("POST", "/claims/{claim_id}/withdraw"): lambda: {"json": {}},
    }
    make = bodies.get((method, path))
    return make() if make else {}


def _url(path: str, r: Records) -> str:
    return path.format(
        claim_id=r.claim_id,
        media_id=r.media_id,
        product_id=r.shop.product_id,
        order_id=r.shop.order_id,
        buyer_id=r.shop.buyer_id,
    )


def test_every_route_has_a_rule_and_every_rule_a_route(api: Api) -> None:
    app: FastAPI = api.client.app  # type: ignore[assignment]
    routes = set(walk(app.routes))
    assert routes - RULES.keys() == set(), "routes without an authorization rule"
    assert RULES.keys() - routes == set(), "rules for routes that do not exist"


def test_authorization_matrix(api: Api) -> None:
    api.key("platform_b", *_role("reviewer"), "reviewer_other")
    api.key("platform_b", *_role("admin"), "admin_other")
    shop = open_shop(api)
    claim: Any = submit(api, shop)
    assert claim.status_code == 202, claim.text
    records = Records(shop, claim.json()["id"], claim.json()["media"][0]["id"], api.tenants)
    app: FastAPI = api.client.app  # type: ignore[assignment]
    failures = []
    for method, path in sorted(set(walk(app.routes))):
        for who in WHO:
            want = expected(RULES[(method, path)], who)
            request = _request(method, path, records)
            headers = {**request.pop("headers", {}), **api.auth(who)}
            got = api.client.request(method, _url(path, records), headers=headers, **request)
            fine = got.status_code in RAN if want == OK else got.status_code == want
            if not fine:
                failures.append(f"{method} {path} as {who}: want {want}, got {got.status_code}")
    assert failures == []


def _role(name: str) -> tuple[Any]:
    from vericlaim.cases.workflow import Role

    return (Role(name),)
