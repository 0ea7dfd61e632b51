"""Confirmed-fraud records shared across platforms: signed JSON Lines.

One line per claim whose latest decision confirmed fabricated evidence. A record carries
only what platforms of a consortium can match without exchanging personal data: the
buyer's keyed hash (HMAC-SHA256 under the shared consortium key, as stored), the issuer's
claim id, the decision time, the amount, the decision's reason code, and each claim
photo's sha256 and reuse fingerprint (hex). Never a name, phone number, address, raw
buyer identifier, free-text reason or photo.

Each record is signed with Ed25519: the signature (base64) covers the canonical JSON of
the record without its ``signature`` field (sorted keys, no spaces, UTF-8), which includes
``issuer`` and ``key_id``. A receiving platform verifies it with the issuer's public key,
listed under the key id in its ``fraud_trusted_keys``; it cannot forge records in the
issuer's name, unlike with a shared HMAC key.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vericlaim.errors import ConfigurationError
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import (
    Buyer,
    Claim,
    ClaimMedia,
    Decision,
    ExternalFraudRecord,
    new_id,
)

__all__ = [
    "SCHEMA",
    "ImportReport",
    "canonical_json",
    "export_records",
    "import_records",
    "load_private_key",
    "load_public_key",
    "public_key_b64",
]

SCHEMA = "vericlaim.fraud_record/1"
_FIELDS = {
    "schema",
    "issuer",
    "key_id",
    "claim_id",
    "buyer_hash",
    "decided_at",
    "amount_fen",
    "currency",
    "reason_codes",
    "photos",
    "signature",
}


def canonical_json(record: Mapping[str, Any]) -> bytes:
    """The bytes signed: sorted keys, no spaces, UTF-8, without ``signature``."""
    body = {k: v for k, v in record.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def load_private_key(seed_b64: str) -> Ed25519PrivateKey:
    """An Ed25519 private key from its 32-byte seed in base64."""
    try:
        seed = base64.b64decode(seed_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError("fraud_signing_key: not base64") from exc
    if len(seed) != 32:
        raise ConfigurationError("fraud_signing_key: an Ed25519 seed is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_public_key(key_b64: str) -> Ed25519PublicKey:
    """An Ed25519 public key from its 32 raw bytes in base64."""
    try:
        raw = base64.b64decode(key_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError("fraud_trusted_keys: a key is not base64") from exc
    if len(raw) != 32:
        raise ConfigurationError("fraud_trusted_keys: an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_b64(seed_b64: str) -> str:
    """The public key (base64) that verifies records signed with this seed."""
    raw = load_private_key(seed_b64).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def export_records(
    sessions: sessionmaker[Session],
    *,
    since: datetime | None = None,
    signing_key: str,
    key_id: str,
    issuer: str,
) -> Iterator[str]:
    """One signed JSON line (no newline) per claim whose latest decision confirmed
    fabricated evidence, decided at or after ``since``, oldest first."""
    private = load_private_key(signing_key)
    ranked = select(
        Decision.id,
        Decision.claim_id,
        func.row_number()
        .over(
            partition_by=Decision.claim_id,
            order_by=(Decision.decided_at.desc(), Decision.id.desc()),
        )
        .label("rank"),
    ).subquery()
    query = (
        select(Decision, Claim, Buyer.identity_hash)
        .join(ranked, ranked.c.id == Decision.id)
        .join(Claim, Claim.id == Decision.claim_id)
        .join(Buyer, Buyer.id == Claim.buyer_id)
        .where(ranked.c.rank == 1, Decision.fabricated_evidence.is_(True))
        .order_by(Decision.decided_at, Claim.id)
    )
    if since is not None:
        query = query.where(Decision.decided_at >= since)
    with transaction(sessions) as session:
        rows = session.execute(query).all()
        for decision, claim, buyer_hash in rows:
            media = session.scalars(
                select(ClaimMedia)
                .where(ClaimMedia.claim_id == claim.id)
                .order_by(ClaimMedia.role, ClaimMedia.position, ClaimMedia.id)
            ).all()
            record: dict[str, Any] = {
                "schema": SCHEMA,
                "issuer": issuer,
                "key_id": key_id,
                "claim_id": claim.id,
                "buyer_hash": buyer_hash,
                "decided_at": _iso(decision.decided_at),
                "amount_fen": int(claim.amount_fen),
                "currency": claim.currency,
                "reason_codes": [decision.reason_code],
                "photos": [
                    {
                        "sha256": m.sha256,
                        "fingerprint": m.fingerprint.hex() if m.fingerprint else None,
                    }
                    for m in media
                ],
            }
            signature = private.sign(canonical_json(record))
            record["signature"] = base64.b64encode(signature).decode("ascii")
            yield json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass
class ImportReport:
    """What an import did: records stored, records already held, lines refused."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    """``(line number, why)`` for every line not stored, numbered from 1."""


class _Refused(Exception):
    pass


def _verify(text: str, keys: Mapping[str, Ed25519PublicKey]) -> dict[str, Any]:
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Refused(f"not JSON ({exc.msg})") from exc
    if not isinstance(record, dict):
        raise _Refused("not a JSON object")
    if record.get("schema") != SCHEMA:
        raise _Refused(f"unknown schema {record.get('schema')!r}")
    if set(record) != _FIELDS:
        raise _Refused("unexpected or missing fields")
    key = keys.get(record["key_id"]) if isinstance(record["key_id"], str) else None
    if key is None:
        raise _Refused(f"unknown key id {record['key_id']!r}")
    try:
        signature = base64.b64decode(str(record["signature"]), validate=True)
        key.verify(signature, canonical_json(record))
    except (binascii.Error, ValueError, InvalidSignature) as exc:
        raise _Refused("bad signature") from exc
    _check_values(record)
    return record


def _check_values(record: dict[str, Any]) -> None:
    def text(name: str, most: int) -> None:
        value = record[name]
        if not isinstance(value, str) or not 0 < len(value) <= most:
            raise _Refused(f"bad {name}")

    text("issuer", 100)
    text("claim_id", 100)
    text("currency", 3)
    buyer_hash = record["buyer_hash"]
    if not (isinstance(buyer_hash, str) and len(buyer_hash) == 64):
        raise _Refused("bad buyer_hash")
    amount = record["amount_fen"]
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise _Refused("bad amount_fen")
    try:
        decided = datetime.fromisoformat(str(record["decided_at"]).replace("Z", "+00:00"))
    except ValueError as exc:
        raise _Refused("bad decided_at") from exc
    if decided.tzinfo is None:
        raise _Refused("bad decided_at")
    record["decided_at"] = decided.astimezone(UTC)


def import_records(
    sessions: sessionmaker[Session],
    lines: Iterable[str],
    *,
    trusted_keys: Mapping[str, str],
    now: datetime | None = None,
) -> ImportReport:
    """Verify every line against ``trusted_keys`` (key id -> base64 Ed25519 public key)
    and store the good ones; a record already held (same issuer and claim id) is counted
    as a duplicate and left as it is. Blank lines are skipped."""
    keys = {key_id: load_public_key(key) for key_id, key in trusted_keys.items()}
    report = ImportReport()
    imported_at = now or datetime.now(UTC)
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            continue
        try:
            record = _verify(text, keys)
        except _Refused as exc:
            report.rejected.append((number, str(exc)))
            continue
        with transaction(sessions) as session:
            held = session.scalars(
                select(ExternalFraudRecord.id).where(
                    ExternalFraudRecord.issuer == record["issuer"],
                    ExternalFraudRecord.claim_ref == record["claim_id"],
                )
            ).first()
            if held is None:
                session.add(
                    ExternalFraudRecord(
                        id=new_id("xfr"),
                        issuer=record["issuer"],
                        claim_ref=record["claim_id"],
                        identity_hash=record["buyer_hash"],
                        amount_fen=record["amount_fen"],
                        currency=record["currency"],
                        decided_at=record["decided_at"],
                        key_id=record["key_id"],
                        record_json=text,
                        imported_at=imported_at,
                    )
                )
        if held is None:
            report.accepted += 1
        else:
            report.duplicates += 1
    return report
