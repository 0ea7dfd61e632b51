"""What the service layer takes and returns: the actor, the context, typed views.

Views are frozen dataclasses built inside the unit of work, so an API route or a CLI
command can use them after the session is closed without touching the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from vericlaim.analyzers import Analyzer
from vericlaim.cases.workflow import Role
from vericlaim.scoring import Policy
from vericlaim.settings import Settings, get_settings
from vericlaim.storage import tables
from vericlaim.storage.blobs import BlobStore
from vericlaim.storage.crypto import Keyring

if TYPE_CHECKING:
    from vericlaim.cases._reuse import ClaimReuse

__all__ = [
    "Actor",
    "AnalysisView",
    "AppealView",
    "BuyerContact",
    "BuyerHistory",
    "BuyerView",
    "ClaimType",
    "ClaimView",
    "Clock",
    "DecisionOutcome",
    "DecisionView",
    "EvidenceRequestView",
    "IssuedApiKey",
    "MediaUpload",
    "MediaView",
    "MerchantResponseView",
    "MerchantView",
    "OrderView",
    "ProductView",
    "ServiceContext",
    "SubmittedClaim",
    "TenantView",
    "TickReport",
    "utc_now",
]

ClaimType = Literal["refund_only", "return_refund", "exchange", "repair"]
DecisionOutcome = Literal["approved", "partial", "denied"]
Clock = Callable[[], datetime]
"""Where the service reads the time: injected, so tests and replays control it."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: an API key's holder, or the system (workers, clocks)."""

    id: str
    role: Role
    tenant_id: str | None = None

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(name, Role.SYSTEM, None)


@dataclass(slots=True)
class ServiceContext:
    """Everything a use case needs besides the session; build one per process."""

    settings: Settings
    blobs: BlobStore
    keyring: Keyring
    clock: Clock = utc_now
    policy: Policy | None = None
    analyzers: Sequence[Analyzer] | None = None
    reuse: ClaimReuse | None = None
    """The process's reuse index (``None``: reuse detection off); built from the database
    at start-up by ``vericlaim serve``, ``vericlaim worker`` and ``create_app``."""

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, clock: Clock = utc_now, **kwargs: Any
    ) -> ServiceContext:
        settings = settings or get_settings()
        return cls(
            settings=settings,
            blobs=BlobStore(settings.data_dir / "blobs"),
            keyring=Keyring.from_settings(settings),
            clock=clock,
            **kwargs,
        )

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the service clock must return aware datetimes")
        return now.astimezone(UTC)

    @property
    def consortium_key(self) -> bytes:
        return self.settings.consortium_key.get_secret_value().encode("utf-8")


@dataclass(frozen=True, slots=True)
class MediaUpload:
    """A file as received: its bytes and the name it came with."""

    data: bytes = field(repr=False)
    filename: str
    captured_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BuyerContact:
    """A buyer's raw contact data: only ever stored encrypted."""

    name: str = ""
    phone: str = ""
    address: str = ""

    def to_bytes(self) -> bytes:
        body = {"name": self.name, "phone": self.phone, "address": self.address}
        return json.dumps(body, ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> BuyerContact:
        body = json.loads(data)
        return cls(body.get("name", ""), body.get("phone", ""), body.get("address", ""))


@dataclass(frozen=True, slots=True)
class TenantView:
    id: str
    name: str
    kind: str

    @classmethod
    def of(cls, row: tables.Tenant) -> TenantView:
        return cls(row.id, row.name, row.kind)


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new API key: ``secret`` is shown this once and stored only as a hash."""

    id: str
    tenant_id: str
    role: Role
    prefix: str
    secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class MerchantView:
    id: str
    tenant_id: str
    name: str
    external_ref: str

    @classmethod
    def of(cls, row: tables.Merchant) -> MerchantView:
        return cls(row.id, row.tenant_id, row.name, row.external_ref)


@dataclass(frozen=True, slots=True)
class ProductView:
    id: str
    merchant_id: str
    sku: str
    title: str

    @classmethod
    def of(cls, row: tables.Product) -> ProductView:
        return cls(row.id, row.merchant_id, row.sku, row.title)


@dataclass(frozen=True, slots=True)
class MediaView:
    """A stored photo or video: listing, packing, claim or re-shoot."""

    id: str
    owner_id: str
    role: str
    sha256: str
    filename: str
    uploaded_at: datetime
    captured_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OrderView:
    id: str
    merchant_id: str
    product_id: str
    buyer_id: str | None
    external_ref: str
    amount_fen: int
    currency: str
    ordered_at: datetime

    @classmethod
    def of(cls, row: tables.Order) -> OrderView:
        return cls(
            row.id,
            row.merchant_id,
            row.product_id,
            row.buyer_id,
            row.external_ref,
            row.amount_fen,
            row.currency,
            row.ordered_at,
        )


@dataclass(frozen=True, slots=True)
class BuyerView:
    """A buyer as the service shows it: the keyed hash, never the contact data."""

    id: str
    identity_hash: str
    has_contact: bool

    @classmethod
    def of(cls, row: tables.Buyer) -> BuyerView:
        return cls(row.id, row.identity_hash, row.contact_ciphertext is not None)


@dataclass(frozen=True, slots=True)
class ClaimView:
    id: str
    tenant_id: str
    idempotency_key: str
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
    media: tuple[MediaView, ...] = ()

    @classmethod
    def of(cls, row: tables.Claim, media: Sequence[tables.ClaimMedia] = ()) -> ClaimView:
        return cls(
            row.id,
            row.tenant_id,
            row.idempotency_key,
            row.order_id,
            row.buyer_id,
            row.claim_type,
            row.reason_text,
            row.amount_fen,
            row.currency,
            row.state,
            row.auto_refund_paused,
            row.escalated,
            row.created_at,
            row.updated_at,
            tuple(
                MediaView(m.id, m.claim_id, m.role, m.sha256, m.filename, m.uploaded_at)
                for m in media
            ),
        )


@dataclass(frozen=True, slots=True)
class SubmittedClaim:
    """The claim, and whether this call created it (``False``: an idempotent repeat)."""

    claim: ClaimView
    created: bool
    job_id: str | None


@dataclass(frozen=True, slots=True)
class AnalysisView:
    id: str
    claim_id: str
    job_id: str | None
    verdict: str
    risk_score: int
    recommended_action: str
    policy_version: str
    analyzer_versions: dict[str, Any]
    verdict_json: str
    created_at: datetime

    @property
    def document(self) -> dict[str, Any]:
        """The verdict JSON (schema ``vericlaim.verdict/1``), parsed."""
        parsed: dict[str, Any] = json.loads(self.verdict_json)
        return parsed

    @classmethod
    def of(cls, row: tables.Analysis) -> AnalysisView:
        return cls(
            row.id,
            row.claim_id,
            row.job_id,
            row.verdict,
            row.risk_score,
            row.recommended_action,
            row.policy_version,
            dict(row.analyzer_versions),
            row.verdict_json,
            row.created_at,
        )


@dataclass(frozen=True, slots=True)
class EvidenceRequestView:
    id: str
    claim_id: str
    requested_from: str
    message: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class MerchantResponseView:
    id: str
    claim_id: str
    message: str
    media_hashes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DecisionView:
    id: str
    claim_id: str
    outcome: str
    refund_fen: int
    reason_code: str
    fabricated_evidence: bool
    decided_by: str
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class AppealView:
    id: str
    claim_id: str
    filed_by: str
    filed_by_role: str
    reason: str
    filed_at: datetime


@dataclass(frozen=True, slots=True)
class BuyerHistory:
    """A buyer's record across every claim under the same keyed identity."""

    buyer_id: str
    identity_hash: str
    claims: int
    refund_only_claims: int
    refund_only_rate: float
    confirmed_fabricated: int
    fabricated_amount_fen: int
    cumulative_amount_fen: int
    escalate: bool
    """``True`` when the fabricated amount, this platform's and other platforms' together,
    reached ``fraud_escalation_fen``."""
    external_fabricated: int = 0
    """Confirmed-fraud records imported from other platforms for the same keyed identity."""
    external_fabricated_amount_fen: int = 0
    """Their amount, in fen; ``fabricated_amount_fen`` counts this platform's claims only."""


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one pass of the clocks did: ``(claim id, event)`` pairs."""

    reminders: tuple[tuple[str, str], ...] = ()
    timeouts: tuple[tuple[str, str], ...] = ()
