"""Tenants, API keys, shops, products, listing photos, orders and shipping evidence."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vericlaim.cases._access import check_merchant_access, require_role
from vericlaim.cases.model import (
    Actor,
    IssuedApiKey,
    MediaUpload,
    MediaView,
    MerchantView,
    OrderView,
    ProductView,
    ServiceContext,
    TenantView,
)
from vericlaim.cases.workflow import Role
from vericlaim.errors import NotFound, PermissionDenied
from vericlaim.evidence import Role as EvidenceRole
from vericlaim.evidence import load_bytes
from vericlaim.storage import audit
from vericlaim.storage.tables import (
    ApiKey,
    Blob,
    Merchant,
    Order,
    Product,
    ReferenceMedia,
    ShippingEvidence,
    Tenant,
    new_id,
)

__all__ = [
    "add_reference_media",
    "add_shipping_evidence",
    "authenticate",
    "create_tenant",
    "issue_api_key",
    "record_order",
    "register_merchant",
    "register_product",
    "revoke_api_key",
    "store_media",
]

_API_KEY_PREFIX = "vck_"
TENANT_KINDS = ("platform", "merchant", "operator")


def _audit(
    session: Session,
    actor: Actor,
    now: datetime,
    action: str,
    kind: str,
    subject: str,
    *,
    evidence_hashes: Sequence[str] = (),
    **details: Any,
) -> None:
    audit.append(
        session,
        at=now,
        actor_id=actor.id,
        actor_role=actor.role.value,
        action=action,
        subject_type=kind,
        subject_id=subject,
        evidence_hashes=evidence_hashes,
        details=details,
    )


def create_tenant(
    session: Session, ctx: ServiceContext, actor: Actor, *, name: str, kind: str
) -> TenantView:
    require_role(actor, Role.ADMIN, Role.SYSTEM, action="creating a tenant")
    if kind not in TENANT_KINDS:
        raise ValueError(f"tenant kind must be one of {TENANT_KINDS}, not {kind!r}")
    now = ctx.now()
    tenant = Tenant(id=new_id("ten"), name=name, kind=kind, created_at=now)
    session.add(tenant)
    _audit(session, actor, now, "tenant.created", "tenant", tenant.id, tenant_kind=kind)
    session.flush()
    return TenantView.of(tenant)


def _hash_key(secret: str) -> str:
    # API keys are 32 random bytes: a plain sha256 is enough, no slow hash needed.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_api_key(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    tenant_id: str,
    role: Role,
    name: str = "",
) -> IssuedApiKey:
    """A new key; the secret is in the returned value only, the database keeps its hash."""
    require_role(actor, Role.ADMIN, Role.SYSTEM, action="issuing an API key")
    role = Role(role)
    if role == Role.SYSTEM:
        raise PermissionDenied("no API key is issued for the system role")
    if session.get(Tenant, tenant_id) is None:
        raise NotFound("tenant", tenant_id)
    secret = _API_KEY_PREFIX + secrets.token_urlsafe(32)
    now = ctx.now()
    key = ApiKey(
        id=new_id("key"),
        tenant_id=tenant_id,
        role=role.value,
        name=name,
        key_hash=_hash_key(secret),
        prefix=secret[:12],
        created_at=now,
    )
    session.add(key)
    _audit(session, actor, now, "api_key.issued", "api_key", key.id, role=role.value)
    session.flush()
    return IssuedApiKey(key.id, tenant_id, role, key.prefix, secret)


def revoke_api_key(session: Session, ctx: ServiceContext, actor: Actor, key_id: str) -> None:
    require_role(actor, Role.ADMIN, Role.SYSTEM, action="revoking an API key")
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("api_key", key_id)
    now = ctx.now()
    key.revoked_at = now
    _audit(session, actor, now, "api_key.revoked", "api_key", key.id)
    session.flush()


def authenticate(session: Session, secret: str) -> Actor | None:
    """The actor holding ``secret``, or ``None`` for an unknown or revoked key."""
    key = session.scalars(select(ApiKey).where(ApiKey.key_hash == _hash_key(secret))).one_or_none()
    if key is None or key.revoked_at is not None:
        return None
    return Actor(key.id, Role(key.role), key.tenant_id)


def register_merchant(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    name: str,
    external_ref: str,
    tenant_id: str | None = None,
) -> MerchantView:
    """A shop; a merchant registers its own (``tenant_id`` is then its tenant)."""
    require_role(actor, Role.MERCHANT, Role.PLATFORM, Role.ADMIN, action="registering a shop")
    if actor.role == Role.MERCHANT:
        tenant_id = actor.tenant_id
    if tenant_id is None or session.get(Tenant, tenant_id) is None:
        raise NotFound("tenant", str(tenant_id))
    now = ctx.now()
    merchant = Merchant(
        id=new_id("mer"), tenant_id=tenant_id, name=name, external_ref=external_ref, created_at=now
    )
    session.add(merchant)
    _audit(session, actor, now, "merchant.registered", "merchant", merchant.id)
    session.flush()
    return MerchantView.of(merchant)


def register_product(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    merchant_id: str,
    sku: str,
    title: str = "",
) -> ProductView:
    require_role(actor, Role.MERCHANT, Role.PLATFORM, Role.ADMIN, action="registering a product")
    check_merchant_access(session, actor, merchant_id)
    now = ctx.now()
    product = Product(
        id=new_id("prd"), merchant_id=merchant_id, sku=sku, title=title, created_at=now
    )
    session.add(product)
    _audit(session, actor, now, "product.registered", "product", product.id)
    session.flush()
    return ProductView.of(product)


def store_media(
    session: Session, ctx: ServiceContext, upload: MediaUpload, role: EvidenceRole
) -> str:
    """Check an upload with the core's loader (format, limits, decoding), put it in the
    blob store and record the blob; returns its sha256. Raises ``EvidenceError`` for
    bad input before anything is stored."""
    evidence = load_bytes(upload.data, source=upload.filename, role=role, settings=ctx.settings)
    sha256 = ctx.blobs.put(upload.data)
    values = {
        "sha256": sha256,
        "byte_size": evidence.byte_size,
        "format": evidence.format,
        "kind": evidence.kind,
        "created_at": ctx.now(),
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(postgresql.insert(Blob).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite.insert(Blob).values(values).on_conflict_do_nothing())
    elif session.get(Blob, sha256) is None:  # pragma: no cover - other databases
        session.execute(insert(Blob).values(values))
    return sha256


def add_reference_media(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    product_id: str,
    upload: MediaUpload,
) -> MediaView:
    """A listing photo of a product (a reference the claim photos are compared with)."""
    require_role(actor, Role.MERCHANT, Role.PLATFORM, Role.ADMIN, action="adding a listing photo")
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound("product", product_id)
    check_merchant_access(session, actor, product.merchant_id)
    sha256 = store_media(session, ctx, upload, "listing")
    now = ctx.now()
    media = ReferenceMedia(
        id=new_id("ref"),
        product_id=product_id,
        sha256=sha256,
        filename=upload.filename,
        uploaded_at=now,
        uploaded_by=actor.id,
    )
    session.add(media)
    _audit(session, actor, now, "reference.added", "product", product_id, evidence_hashes=[sha256])
    session.flush()
    return MediaView(media.id, product_id, "listing", sha256, upload.filename, now)


def record_order(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    merchant_id: str,
    product_id: str,
    external_ref: str,
    amount_fen: int,
    ordered_at: datetime,
    buyer_id: str | None = None,
    currency: str = "CNY",
) -> OrderView:
    require_role(actor, Role.MERCHANT, Role.PLATFORM, Role.ADMIN, action="recording an order")
    check_merchant_access(session, actor, merchant_id)
    product = session.get(Product, product_id)
    if product is None or product.merchant_id != merchant_id:
        raise NotFound("product", product_id)
    if amount_fen < 0:
        raise ValueError("amount_fen must not be negative")
    now = ctx.now()
    order = Order(
        id=new_id("ord"),
        merchant_id=merchant_id,
        product_id=product_id,
        buyer_id=buyer_id,
        external_ref=external_ref,
        amount_fen=amount_fen,
        currency=currency,
        ordered_at=ordered_at,
        created_at=now,
    )
    session.add(order)
    _audit(session, actor, now, "order.recorded", "order", order.id, amount_fen=amount_fen)
    session.flush()
    return OrderView.of(order)


def add_shipping_evidence(
    session: Session,
    ctx: ServiceContext,
    actor: Actor,
    *,
    order_id: str,
    uploads: Sequence[MediaUpload],
) -> list[MediaView]:
    """Packing or shipping photos and videos of an order, hashed and timestamped now (the
    server's time; the sender's ``captured_at`` is kept beside it, not trusted)."""
    require_role(actor, Role.MERCHANT, Role.PLATFORM, Role.ADMIN, action="adding shipping evidence")
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound("order", order_id)
    check_merchant_access(session, actor, order.merchant_id)
    return [_add_shipping(session, ctx, actor, order, upload) for upload in uploads]


def _add_shipping(
    session: Session, ctx: ServiceContext, actor: Actor, order: Order, upload: MediaUpload
) -> MediaView:
    sha256 = store_media(session, ctx, upload, "packing")
    now = ctx.now()
    row = ShippingEvidence(
        id=new_id("shp"),
        order_id=order.id,
        sha256=sha256,
        filename=upload.filename,
        captured_at=upload.captured_at,
        uploaded_at=now,
        uploaded_by=actor.id,
    )
    session.add(row)
    _audit(session, actor, now, "shipping.added", "order", order.id, evidence_hashes=[sha256])
    session.flush()
    return MediaView(row.id, order.id, "packing", sha256, upload.filename, now, upload.captured_at)
