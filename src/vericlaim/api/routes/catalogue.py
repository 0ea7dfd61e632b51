"""Shops, products with their listing photos, orders with their shipping evidence."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile

from vericlaim.api.deps import ServiceDep, SettingsDep, allow
from vericlaim.api.limits import read_upload
from vericlaim.api.schemas import (
    MediaPublic,
    MerchantCreate,
    MerchantPublic,
    OrderCreate,
    OrderPublic,
    ProductCreate,
    ProductPublic,
)
from vericlaim.cases import service
from vericlaim.cases.workflow import Role

router = APIRouter(
    tags=["catalogue"], dependencies=[allow(Role.MERCHANT, Role.PLATFORM, Role.ADMIN)]
)


@router.post("/merchants", response_model=MerchantPublic, status_code=201)
def register_merchant(body: MerchantCreate, run: ServiceDep) -> MerchantPublic:
    """A shop; a merchant's key registers it under its own tenant."""
    merchant = run(
        service.register_merchant,
        name=body.name,
        external_ref=body.external_ref,
        tenant_id=body.tenant_id,
    )
    return MerchantPublic.of(merchant)


@router.post("/products", response_model=ProductPublic, status_code=201)
def register_product(body: ProductCreate, run: ServiceDep) -> ProductPublic:
    product = run(
        service.register_product, merchant_id=body.merchant_id, sku=body.sku, title=body.title
    )
    return ProductPublic.of(product)


@router.post("/products/{product_id}/media", response_model=MediaPublic, status_code=201)
def add_listing_photo(
    product_id: str,
    file: Annotated[UploadFile, File(description="A listing photo of the product.")],
    run: ServiceDep,
    settings: SettingsDep,
) -> MediaPublic:
    upload = read_upload(file, settings.max_bytes)
    return MediaPublic.of(run(service.add_reference_media, product_id=product_id, upload=upload))


@router.post("/orders", response_model=OrderPublic, status_code=201)
def record_order(body: OrderCreate, run: ServiceDep) -> OrderPublic:
    return OrderPublic.of(run(service.record_order, **body.model_dump()))


@router.post(
    "/orders/{order_id}/shipping-evidence", response_model=list[MediaPublic], status_code=201
)
def add_shipping_evidence(
    order_id: str,
    files: Annotated[list[UploadFile], File(description="Packing or shipping photos/videos.")],
    run: ServiceDep,
    settings: SettingsDep,
) -> list[MediaPublic]:
    """Hashed and timestamped on arrival (the server's clock)."""
    uploads = [read_upload(f, settings.max_bytes) for f in files]
    views = run(service.add_shipping_evidence, order_id=order_id, uploads=uploads)
    return [MediaPublic.of(v) for v in views]
