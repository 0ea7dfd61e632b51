"""Request and response bodies: a create schema per resource, and public views.

Money is an integer number of fen (CNY cents), never a float. Public views are built
from the service layer's frozen views; buyer contact data never appears in one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from vericlaim.cases.model import (
    AnalysisView,
    AppealView,
    BuyerHistory,
    ClaimView,
    DecisionView,
    EvidenceRequestView,
    IssuedApiKey,
    MediaView,
    MerchantResponseView,
    MerchantView,
    OrderView,
    ProductView,
    TenantView,
)

__all__ = [
    "ApiKeyCreate",
    "ApiKeyIssued",
    "AppealCreate",
    "AppealPublic",
    "AuditProblemPublic",
    "AuditReportPublic",
    "BuyerCreate",
    "BuyerHistoryPublic",
    "BuyerPublic",
    "ClaimAction",
    "ClaimPublic",
    "DecisionCreate",
    "DecisionPublic",
    "EvidenceRequestCreate",
    "EvidenceRequestPublic",
    "Health",
    "MediaPublic",
    "MerchantCreate",
    "MerchantPublic",
    "MerchantResponsePublic",
    "OrderCreate",
    "OrderPublic",
    "ProductCreate",
    "ProductPublic",
    "TenantCreate",
    "TenantPublic",
    "VerdictPublic",
]

Fen = Field(ge=0, le=10**12, description="An amount in fen (CNY cents).")
Text = Field(default="", max_length=4000)
Name = Field(min_length=1, max_length=200)


class _Create(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    database: str


class TenantCreate(_Create):
    name: str = Name
    kind: Literal["platform", "merchant", "operator"]


class TenantPublic(BaseModel):
    id: str
    name: str
    kind: str

    @classmethod
    def of(cls, view: TenantView) -> TenantPublic:
        return cls(id=view.id, name=view.name, kind=view.kind)


class ApiKeyCreate(_Create):
    tenant_id: str = Field(max_length=40)
    role: Literal["platform", "merchant", "reviewer", "admin"]
    name: str = Field(default="", max_length=200)


class ApiKeyIssued(BaseModel):
    id: str
    tenant_id: str
    role: str
    prefix: str
    api_key: str = Field(description="The key itself, shown this once; only its hash is kept.")

    @classmethod
    def of(cls, issued: IssuedApiKey) -> ApiKeyIssued:
        return cls(
            id=issued.id,
            tenant_id=issued.tenant_id,
            role=issued.role.value,
            prefix=issued.prefix,
            api_key=issued.secret,
        )


class MerchantCreate(_Create):
    name: str = Name
    external_ref: str = Field(default="", max_length=200)
    tenant_id: str | None = Field(
        default=None, max_length=40, description="The shop's tenant (a merchant's own is used)."
    )


class MerchantPublic(BaseModel):
    id: str
    tenant_id: str
    name: str
    external_ref: str

    @classmethod
    def of(cls, view: MerchantView) -> MerchantPublic:
        return cls(
            id=view.id, tenant_id=view.tenant_id, name=view.name, external_ref=view.external_ref
        )


class ProductCreate(_Create):
    merchant_id: str = Field(max_length=40)
    sku: str = Name
    title: str = Field(default="", max_length=400)


class ProductPublic(BaseModel):
    id: str
    merchant_id: str
    sku: str
    title: str

    @classmethod
    def of(cls, view: ProductView) -> ProductPublic:
        return cls(id=view.id, merchant_id=view.merchant_id, sku=view.sku, title=view.title)


class MediaPublic(BaseModel):
    id: str
    owner_id: str
    role: str
    sha256: str
    filename: str
    uploaded_at: datetime
    captured_at: datetime | None = None

    @classmethod
    def of(cls, view: MediaView) -> MediaPublic:
        return cls(
            id=view.id,
            owner_id=view.owner_id,
            role=view.role,
            sha256=view.sha256,
            filename=view.filename,
            uploaded_at=view.uploaded_at,
            captured_at=view.captured_at,
        )


class OrderCreate(_Create):
    merchant_id: str = Field(max_length=40)
    product_id: str = Field(max_length=40)
    external_ref: str = Field(default="", max_length=200)
    amount_fen: int = Fen
    ordered_at: datetime
    buyer_id: str | None = Field(default=None, max_length=40)
    currency: str = Field(default="CNY", pattern="^[A-Z]{3}$")


class OrderPublic(BaseModel):
    id: str
    merchant_id: str
    product_id: str
    buyer_id: str | None
    external_ref: str
    amount_fen: int
    currency: str
    ordered_at: datetime

    @classmethod
    def of(cls, view: OrderView) -> OrderPublic:
        return cls(
            id=view.id,
            merchant_id=view.merchant_id,
            product_id=view.product_id,
            buyer_id=view.buyer_id,
            external_ref=view.external_ref,
            amount_fen=view.amount_fen,
            currency=view.currency,
            ordered_at=view.ordered_at,
        )


class BuyerCreate(_Create):
    identifier: str = Field(
        min_length=1, max_length=200, description="Phone number or platform account id."
    )
    name: str = Field(default="", max_length=200)
    phone: str = Field(default="", max_length=50)
    address: str = Field(default="", max_length=1000)


class BuyerPublic(BaseModel):
    id: str
    identity_hash: str
    has_contact: bool


class BuyerHistoryPublic(BaseModel):
    buyer_id: str
    identity_hash: str
    claims: int
    refund_only_claims: int
    refund_only_rate: float
    confirmed_fabricated: int
    fabricated_amount_fen: int
    cumulative_amount_fen: int
    escalate: bool
    external_fabricated: int = Field(
        0, description="Confirmed-fraud records imported from other platforms for this buyer."
    )
    external_fabricated_amount_fen: int = Field(
        0,
        description="Their amount in fen; fabricated_amount_fen counts this platform's only. "
        "escalate is true once both together reach the escalation threshold.",
    )

    @classmethod
    def of(cls, view: BuyerHistory) -> BuyerHistoryPublic:
        return cls.model_validate(view, from_attributes=True)


class ClaimPublic(BaseModel):
    id: str
    order_id: str
    buyer_id: str
    claim_type: str
    reason_text: str
    amount_fen: int
    currency: str
    state: str
    auto_refund_paused: bool
    escalated: bool
    created_at: datetime
    updated_at: datetime
    media: list[MediaPublic]

    @classmethod
    def of(cls, view: ClaimView) -> ClaimPublic:
        return cls(
            id=view.id,
            order_id=view.order_id,
            buyer_id=view.buyer_id,
            claim_type=view.claim_type,
            reason_text=view.reason_text,
            amount_fen=view.amount_fen,
            currency=view.currency,
            state=view.state,
            auto_refund_paused=view.auto_refund_paused,
            escalated=view.escalated,
            created_at=view.created_at,
            updated_at=view.updated_at,
            media=[MediaPublic.of(m) for m in view.media],
        )


class VerdictPublic(BaseModel):
    claim_id: str
    state: str
    analysed: bool = Field(description="False while the analysis is still queued or running.")
    verdict: str | None = None
    risk_score: int | None = None
    recommended_action: str | None = None
    policy_version: str | None = None
    analysed_at: datetime | None = None
    document: dict[str, Any] | None = Field(
        default=None, description="The verdict JSON, schema vericlaim.verdict/1."
    )

    @classmethod
    def of(cls, claim: ClaimView, analysis: AnalysisView | None) -> VerdictPublic:
        if analysis is None:
            return cls(claim_id=claim.id, state=claim.state, analysed=False)
        return cls(
            claim_id=claim.id,
            state=claim.state,
            analysed=True,
            verdict=analysis.verdict,
            risk_score=analysis.risk_score,
            recommended_action=analysis.recommended_action,
            policy_version=analysis.policy_version,
            analysed_at=analysis.created_at,
            document=analysis.document,
        )


class EvidenceRequestCreate(_Create):
    requested_from: Literal["buyer", "merchant"]
    message: str = Text
    reason_code: str = Field(default="", max_length=60)


class EvidenceRequestPublic(BaseModel):
    id: str
    claim_id: str
    requested_from: str
    message: str
    due_at: datetime

    @classmethod
    def of(cls, view: EvidenceRequestView) -> EvidenceRequestPublic:
        return cls.model_validate(view, from_attributes=True)


class MerchantResponsePublic(BaseModel):
    id: str
    claim_id: str
    message: str
    media_hashes: list[str]

    @classmethod
    def of(cls, view: MerchantResponseView) -> MerchantResponsePublic:
        return cls(
            id=view.id,
            claim_id=view.claim_id,
            message=view.message,
            media_hashes=list(view.media_hashes),
        )


class DecisionCreate(_Create):
    outcome: Literal["approved", "partial", "denied"]
    reason_code: str = Field(min_length=1, max_length=60)
    refund_fen: int | None = Field(default=None, ge=0, le=10**12)
    note: str = Text
    fabricated_evidence: bool = False


class DecisionPublic(BaseModel):
    id: str
    claim_id: str
    outcome: str
    refund_fen: int
    reason_code: str
    fabricated_evidence: bool
    decided_by: str
    decided_at: datetime

    @classmethod
    def of(cls, view: DecisionView) -> DecisionPublic:
        return cls.model_validate(view, from_attributes=True)


class AppealCreate(_Create):
    reason: str = Field(min_length=1, max_length=4000)


class AppealPublic(BaseModel):
    id: str
    claim_id: str
    filed_by: str
    filed_by_role: str
    reason: str
    filed_at: datetime

    @classmethod
    def of(cls, view: AppealView) -> AppealPublic:
        return cls.model_validate(view, from_attributes=True)


class ClaimAction(_Create):
    """Close or withdraw: an optional reason code."""

    reason_code: str = Field(default="", max_length=60)


class AuditProblemPublic(BaseModel):
    seq: int
    problem: str


class AuditReportPublic(BaseModel):
    ok: bool
    rows: int
    problems: list[AuditProblemPublic]
