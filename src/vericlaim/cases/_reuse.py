"""Reuse detection in the service: a claim photo already used as evidence in another claim.

One :class:`ClaimReuse` per process holds the :class:`~vericlaim.reuse.ReuseIndex` of every
claim photo analysed so far; it is rebuilt from the fingerprints stored with the claim media
(``claim_media.fingerprint``) at start-up (:meth:`ClaimReuse.from_database`). When a claim is
analysed, each of its photos is fingerprinted, searched for in the index (the claim's own
photos never count) and only then added, all under one lock so that two claims analysed at
the same time with the same photo still find each other. Each match becomes an entry of the
verdict's ``duplicates`` list (:func:`duplicate_entry`), which the routing reads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vericlaim.reuse import (
    FINGERPRINT_VERSION,
    Fingerprint,
    ReuseIndex,
    ReuseMatch,
    ReuseRecord,
    detect_reuse,
)
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import Buyer, Claim, ClaimMedia, Merchant, Order

__all__ = ["REUSE_REASON", "ClaimReuse", "PhotoToCheck", "duplicate_entry"]

log = logging.getLogger(__name__)

REUSE_REASON = "reuse.photo_reused"
"""The reason code recorded on the transition of a claim with a reused photo."""

_MATCH_LIMIT = 10


@dataclass(frozen=True, slots=True)
class PhotoToCheck:
    """One claim photo: its verdict media id, its stored row and its fingerprint."""

    media_id: str
    record: ReuseRecord
    fingerprint: Fingerprint


class ClaimReuse:
    """The process's reuse index and the lock that makes search-then-add atomic."""

    def __init__(self, index: ReuseIndex | None = None) -> None:
        self.index = index if index is not None else ReuseIndex()
        self._lock = threading.Lock()

    @classmethod
    def from_database(cls, sessions: sessionmaker[Session]) -> ClaimReuse:
        """An index rebuilt from every fingerprint stored with the claim media."""
        rows: list[tuple[ReuseRecord, Fingerprint]] = []
        skipped = 0
        with transaction(sessions) as session:
            query = (
                select(
                    ClaimMedia.id,
                    ClaimMedia.claim_id,
                    ClaimMedia.sha256,
                    ClaimMedia.fingerprint,
                    Claim.tenant_id,
                    Merchant.tenant_id.label("shop_tenant"),
                    Buyer.identity_hash,
                )
                .join(Claim, Claim.id == ClaimMedia.claim_id)
                .join(Order, Order.id == Claim.order_id)
                .join(Merchant, Merchant.id == Order.merchant_id)
                .join(Buyer, Buyer.id == Claim.buyer_id)
                .where(ClaimMedia.fingerprint.is_not(None))
                .order_by(ClaimMedia.uploaded_at, ClaimMedia.id)
            )
            for row in session.execute(query):
                try:
                    fp = Fingerprint.from_bytes(row.fingerprint)
                except ValueError:
                    skipped += 1
                    continue
                if fp.applicable and fp.version != FINGERPRINT_VERSION:
                    skipped += 1
                    continue
                record = ReuseRecord(
                    claim_id=row.claim_id,
                    media_id=row.id,
                    sha256=row.sha256,
                    tenant=row.shop_tenant,
                    platform=row.tenant_id,
                    buyer_key=row.identity_hash,
                )
                rows.append((record, fp))
        if skipped:
            log.warning("reuse index: %d stored fingerprints unreadable or outdated", skipped)
        log.info("reuse index rebuilt from %d stored claim photos", len(rows))
        return cls(ReuseIndex.rebuild(rows))

    def check_and_add(self, photos: Sequence[PhotoToCheck]) -> list[dict[str, Any]]:
        """Search every photo of one claim, then index them; the verdict's duplicates."""
        duplicates: list[dict[str, Any]] = []
        with self._lock:
            for photo in photos:
                decision = detect_reuse(
                    photo.fingerprint,
                    self.index,
                    sha256=photo.record.sha256,
                    claim_id=photo.record.claim_id,
                    limit=_MATCH_LIMIT,
                )
                duplicates += [duplicate_entry(photo, m) for m in decision.matches]
            for photo in photos:
                self.index.add(photo.record, photo.fingerprint)
        return duplicates


def duplicate_entry(photo: PhotoToCheck, match: ReuseMatch) -> dict[str, Any]:
    """One ``duplicates`` entry: where the photo was used before and how closely it
    matches. Identifiers and comparisons only: never the earlier buyer's key or data."""
    earlier = match.record
    exact = match.query_view == "bytes"
    return {
        "media_id": photo.media_id,
        "sha256": photo.record.sha256,
        "claim_media_id": photo.record.media_id,
        "earlier_claim_id": earlier.claim_id,
        "earlier_media_id": earlier.media_id,
        "match": "sha256" if exact else "perceptual",
        "phash_distance": match.phash_distance,
        "dhash_distance": match.dhash_distance,
        "views_aligned": match.views_aligned,
        "views_matched": match.views_matched,
        "query_view": match.query_view,
        "indexed_view": match.indexed_view,
        "mirrored": match.mirrored,
        "same_tenant": earlier.platform == photo.record.platform,
        "same_shop": earlier.tenant == photo.record.tenant,
        "same_buyer": earlier.buyer_key == photo.record.buyer_key,
    }
