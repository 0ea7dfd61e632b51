"""The database schema: one set of tables for SQLite and PostgreSQL.

Ids are short prefixed strings (``clm_3f9a...``) made in Python, so a record's id is
known before it is flushed and reads the same in logs, the API and the audit log.
Amounts are integers in fen (CNY cents). Every timestamp is stored and returned as UTC.
The verdict document is stored as the exact JSON text the core produced; its headline
fields are copied into columns for querying.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "Analysis",
    "AnalysisJob",
    "ApiKey",
    "Appeal",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Blob",
    "Buyer",
    "Claim",
    "ClaimMedia",
    "Clock",
    "Decision",
    "EvidenceRequest",
    "ExternalFraudRecord",
    "Merchant",
    "MerchantResponse",
    "Order",
    "Product",
    "ReferenceMedia",
    "ShippingEvidence",
    "Tenant",
    "UTCDateTime",
    "WebhookOutbox",
    "new_id",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id(prefix: str) -> str:
    """A new record id: ``prefix_`` and 24 random hex digits."""
    return f"{prefix}_{secrets.token_hex(12)}"


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored as UTC and always returned timezone-aware.

    SQLite keeps no zone, PostgreSQL converts to the session's zone; both come back
    as aware UTC datetimes here, so comparisons with an injected clock never mix kinds.
    Naive datetimes are refused: a naive time in the service is a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: use an aware UTC time")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _id() -> Mapped[str]:
    return mapped_column(String(40), primary_key=True)


def _fk(target: str, *, nullable: bool = False, index: bool = True) -> Mapped[Any]:
    return mapped_column(String(40), ForeignKey(target), nullable=nullable, index=index)


def _sha256(*, fk: bool = True) -> Mapped[str]:
    if fk:
        return mapped_column(String(64), ForeignKey("blobs.sha256"), index=True)
    return mapped_column(String(64))


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Tenant(Base):
    """A platform, a merchant's account or the operator: the owner of API keys and claims."""

    __tablename__ = "tenants"
    id: Mapped[str] = _id()
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # platform | merchant | operator
    created_at: Mapped[datetime]


class ApiKey(Base):
    """An API key, stored as the sha256 of the key; the key itself is shown once."""

    __tablename__ = "api_keys"
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _fk("tenants.id")
    role: Mapped[str] = mapped_column(String(20))  # platform | merchant | reviewer | admin
    name: Mapped[str] = mapped_column(String(200), default="")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Merchant(Base):
    """A shop."""

    __tablename__ = "merchants"
    __table_args__ = (UniqueConstraint("tenant_id", "external_ref"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _fk("tenants.id")
    name: Mapped[str] = mapped_column(String(200))
    external_ref: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("merchant_id", "sku"),)
    id: Mapped[str] = _id()
    merchant_id: Mapped[str] = _fk("merchants.id")
    sku: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime]


class Blob(Base):
    """A blob in the content-addressed store: the database's record of what it holds."""

    __tablename__ = "blobs"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    byte_size: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10))  # image | video
    created_at: Mapped[datetime]


class ReferenceMedia(Base):
    """A merchant's listing photo of a product."""

    __tablename__ = "reference_media"
    id: Mapped[str] = _id()
    product_id: Mapped[str] = _fk("products.id")
    sha256: Mapped[str] = _sha256()
    filename: Mapped[str] = mapped_column(String(300))
    uploaded_at: Mapped[datetime]
    uploaded_by: Mapped[str] = mapped_column(String(40))


class Buyer(Base):
    """A buyer, known by a keyed hash of an identifier; contact data only encrypted."""

    __tablename__ = "buyers"
    id: Mapped[str] = _id()
    identity_hash: Mapped[str] = mapped_column(String(64), unique=True)
    contact_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    contact_key_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("merchant_id", "external_ref"),)
    id: Mapped[str] = _id()
    merchant_id: Mapped[str] = _fk("merchants.id")
    product_id: Mapped[str] = _fk("products.id")
    buyer_id: Mapped[str | None] = _fk("buyers.id", nullable=True)
    external_ref: Mapped[str] = mapped_column(String(200))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    ordered_at: Mapped[datetime]
    created_at: Mapped[datetime]


class ShippingEvidence(Base):
    """A packing or shipping photo or video, hashed and timestamped when uploaded."""

    __tablename__ = "shipping_evidence"
    id: Mapped[str] = _id()
    order_id: Mapped[str] = _fk("orders.id")
    sha256: Mapped[str] = _sha256()
    filename: Mapped[str] = mapped_column(String(300))
    captured_at: Mapped[datetime | None]
    uploaded_at: Mapped[datetime]
    uploaded_by: Mapped[str] = mapped_column(String(40))


class Claim(Base):
    __tablename__ = "claims"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_claims_state", "state"),
    )
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _fk("tenants.id")  # the submitting tenant
    idempotency_key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str] = _fk("orders.id")
    buyer_id: Mapped[str] = _fk("buyers.id")
    claim_type: Mapped[str] = mapped_column(String(20))
    reason_text: Mapped[str] = mapped_column(Text, default="")
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    state: Mapped[str] = mapped_column(String(30))
    auto_refund_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ClaimMedia(Base):
    """A buyer's claim photo or video, or a re-shoot sent on request."""

    __tablename__ = "claim_media"
    id: Mapped[str] = _id()
    claim_id: Mapped[str] = _fk("claims.id")
    sha256: Mapped[str] = _sha256()
    role: Mapped[str] = mapped_column(String(10))  # claim | reshoot
    filename: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(Integer)
    uploaded_at: Mapped[datetime]
    fingerprint: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """The photo's reuse fingerprint (``vericlaim.reuse.Fingerprint.to_bytes()``), stored
    when the claim is analysed; the reuse index is rebuilt from it at start-up."""


class Analysis(Base):
    """One run of the core check on a claim: the verdict JSON exactly as produced."""

    __tablename__ = "analyses"
    id: Mapped[str] = _id()
    claim_id: Mapped[str] = _fk("claims.id")
    job_id: Mapped[str | None] = mapped_column(
        String(40), ForeignKey("analysis_jobs.id"), unique=True
    )
    verdict_json: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(30))
    risk_score: Mapped[int] = mapped_column(Integer)
    recommended_action: Mapped[str] = mapped_column(String(30))
    policy_version: Mapped[str] = mapped_column(String(40))
    analyzer_versions: Mapped[dict[str, Any]]
    media_hashes: Mapped[list[Any]]
    created_at: Mapped[datetime] = mapped_column(index=True)
    """Indexed: the reuse index of each process catches up by a range read on it."""


class AnalysisJob(Base):
    """A durable analysis job: claimed under a lease, finished in one transaction."""

    __tablename__ = "analysis_jobs"
    __table_args__ = (Index("ix_analysis_jobs_status_run_after", "status", "run_after"),)
    id: Mapped[str] = _id()
    claim_id: Mapped[str] = _fk("claims.id")
    status: Mapped[str] = mapped_column(String(10))  # queued | running | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    run_after: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class Clock(Base):
    """An SLA clock on a claim: started when the claim enters a waiting state."""

    __tablename__ = "clocks"
    __table_args__ = (Index("ix_clocks_open_due", "stopped_at", "due_at"),)
    id: Mapped[str] = _id()
    claim_id: Mapped[str] = _fk("claims.id")
    kind: Mapped[str] = mapped_column(String(30))
    started_at: Mapped[datetime]
    due_at: Mapped[datetime]
    remind_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(20))  # met | expired | cancelled


class EvidenceRequest(Base):
    __tablename__ = "evidence_requests"
    id: Mapped[str] = _id()
    claim_id: Mapped[str] = _fk("claims.id")
    requested_from: Mapped[str] = mapped_column(String(10))  # buyer | merchant
    message: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    fulfilled_at: Mapped[datetime | None]


class MerchantResponse(Base):
    __tablename__ = "merchant_responses"
    id: Mapped[str] = _id()
    claim_id: Mapped[str] = _fk("claims.id")
    merchant_id: Mapped[str] = _fk("merchants.id")
    message: Mapped[str] = mapped_column(Text, default="")
    media_hashes: Mapped[list[Any]]
    responded_by: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime]


class Decision(Base):
    """A person's decision on a claim; ``fabricated_evidence`` confirms fake evidence."""

    __tablename__ = "decisions"
    id: Mapped[str] = _id()
    claim_id: Mapped[str] = _fk("claims.id")
    outcome: Mapped[str] = mapped_column(String(10))  # approved | partial | denied
    refund_fen: Mapped[int] = mapped_column(BigInteger)
    reason_code: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    fabricated_evidence: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_by: Mapped[str] = mapped_column(String(40))
    decided_at: Mapped[datetime]


class ExternalFraudRecord(Base):
    """A confirmed-fraud record imported from a consortium platform, signature verified.

    Only keyed hashes and fingerprints: the buyer's consortium hash, the issuer's claim id,
    the amount and reason codes; ``record_json`` is the signed line as received."""

    __tablename__ = "external_fraud_records"
    __table_args__ = (UniqueConstraint("issuer", "claim_ref"),)
    id: Mapped[str] = _id()
    issuer: Mapped[str] = mapped_column(String(100))
    claim_ref: Mapped[str] = mapped_column(String(100))
    identity_hash: Mapped[str] = mapped_column(String(64), index=True)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    decided_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(100))
    record_json: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[datetime]


class Appeal(Base):
    __tablename__ = "appeals"
    id: Mapped[str] = _id()
    claim_id: Mapped[str] = _fk("claims.id")
    filed_by: Mapped[str] = mapped_column(String(40))
    filed_by_role: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    filed_at: Mapped[datetime]


class WebhookOutbox(Base):
    """An event waiting to be delivered to a tenant's webhook (written with the change)."""

    __tablename__ = "webhook_outbox"
    __table_args__ = (Index("ix_webhook_outbox_pending", "delivered_at", "next_attempt_at"),)
    id: Mapped[str] = _id()
    tenant_id: Mapped[str] = _fk("tenants.id")
    claim_id: Mapped[str | None] = _fk("claims.id", nullable=True)
    event_type: Mapped[str] = mapped_column(String(60))
    payload_json: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class AuditEntry(Base):
    """One row of the append-only audit log, chained to the row before by hash."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    actor_id: Mapped[str] = mapped_column(String(40))
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[str] = mapped_column(String(40), index=True)
    reason_code: Mapped[str] = mapped_column(String(100), default="")
    evidence_hashes: Mapped[list[Any]]
    details: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last sequence number and hash: one row, locked by every append, so
    appends are serial and a deleted tail is caught."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_seq: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))
