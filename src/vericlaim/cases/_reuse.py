"""Reuse detection in the service: a claim photo already used as evidence in another claim.

One :class:`ClaimReuse` per process holds the :class:`~vericlaim.reuse.ReuseIndex` of every
claim photo analysed so far; it is rebuilt from the fingerprints stored with the claim media
(``claim_media.fingerprint``) at start-up (:meth:`ClaimReuse.from_database`). When a claim is
analysed, each of its photos is fingerprinted, searched for in the index (the claim's own
photos never count) and only then added, all under one lock so that two claims analysed at
the same time with the same photo still find each other. Each match becomes an entry of the
verdict's ``duplicates`` list (:func:`duplicate_entry`), which the routing reads.

Several processes (the API and its workers) each hold an index of their own. Two things
keep them from missing each other's photos:

- **Catch-up.** Before each search, the index loads the fingerprints of claims analysed
  by any process since the newest analysis it has seen (its *watermark*, a database time,
  less :data:`CATCH_UP_MARGIN` for transactions that commit late); photos it already
  holds are skipped. A database error here is logged and the search goes on with the
  index as it is.
- **Exact copies in the database.** When the analysis is recorded,
  :func:`exact_copies_in_database` adds every photo of another claim with the same bytes
  (sha256) uploaded earlier, in the recording transaction: two processes analysing the
  same bytes at the same moment, whose indexes cannot yet see each other, still flag the
  later claim (and only that one).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, and_, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
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
from vericlaim.storage.tables import Analysis, Buyer, Claim, ClaimMedia, Merchant, Order

__all__ = [
    "CATCH_UP_MARGIN",
    "REUSE_REASON",
    "ClaimReuse",
    "PhotoToCheck",
    "duplicate_entry",
    "exact_copies_in_database",
]

log = logging.getLogger(__name__)

REUSE_REASON = "reuse.photo_reused"
"""The reason code recorded on the transition of a claim with a reused photo."""

CATCH_UP_MARGIN = timedelta(minutes=5)
"""How far before its watermark the catch-up looks again: an analysis stamped earlier
than the newest one seen may commit later (its transaction was still open)."""

_MATCH_LIMIT = 10


@dataclass(frozen=True, slots=True)
class PhotoToCheck:
    """One claim photo: its verdict media id, its stored row and its fingerprint."""

    media_id: str
    record: ReuseRecord
    fingerprint: Fingerprint


class ClaimReuse:
    """The process's reuse index and the lock that makes search-then-add atomic.

    Built by :meth:`from_database`, it also keeps the sessions and its watermark, and
    catches up with the photos other processes analysed before every search. Built
    directly (``ClaimReuse()``), it holds only what this process adds.
    """

    def __init__(
        self,
        index: ReuseIndex | None = None,
        *,
        sessions: sessionmaker[Session] | None = None,
        watermark: datetime | None = None,
    ) -> None:
        self.index = index if index is not None else ReuseIndex()
        self._lock = threading.Lock()
        self._sessions = sessions
        self._watermark = watermark

    @property
    def watermark(self) -> datetime | None:
        """The newest analysis time seen in the database (``None``: none yet)."""
        return self._watermark

    @classmethod
    def from_database(cls, sessions: sessionmaker[Session]) -> ClaimReuse:
        """An index rebuilt from every fingerprint stored with the claim media."""
        with transaction(sessions) as session:
            watermark, rows = _stored_fingerprints(session, since=None, known=None)
        log.info("reuse index rebuilt from %d stored claim photos", len(rows))
        return cls(ReuseIndex.rebuild(rows), sessions=sessions, watermark=watermark)

    def check_and_add(
        self, photos: Sequence[PhotoToCheck], *, session: Session | None = None
    ) -> list[dict[str, Any]]:
        """Search every photo of one claim, then index them; the verdict's duplicates.

        The catch-up with the database reads through ``session`` when the caller is
        already inside a transaction (on SQLite a second transaction would wait for the
        caller's write lock), in a transaction of its own otherwise.
        """
        duplicates: list[dict[str, Any]] = []
        with self._lock:
            self._catch_up(session)
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

    def _catch_up(self, session: Session | None) -> None:
        """Index the photos other processes analysed since the watermark (lock held)."""
        if self._sessions is None:
            return
        since = None if self._watermark is None else self._watermark - CATCH_UP_MARGIN
        try:
            if session is None:
                with transaction(self._sessions) as own:
                    watermark, rows = _stored_fingerprints(own, since=since, known=self.index)
            else:  # a savepoint: a failed read leaves the caller's transaction usable
                with session.begin_nested():
                    watermark, rows = _stored_fingerprints(session, since=since, known=self.index)
        except SQLAlchemyError:
            log.exception("reuse index: catch-up with the database failed; searching as it is")
            return
        if rows:
            self.index.add_many(rows)
            log.debug("reuse index: %d claim photos analysed elsewhere added", len(rows))
        if watermark is not None and (self._watermark is None or watermark > self._watermark):
            self._watermark = watermark


def _media_records() -> Select[*tuple[Any, ...]]:
    """Claim media with what a :class:`ReuseRecord` needs: the claim's platform, the
    shop's tenant (through the order) and the buyer's keyed hash."""
    return (
        select(
            ClaimMedia.id,
            ClaimMedia.claim_id,
            ClaimMedia.sha256,
            ClaimMedia.fingerprint,
            ClaimMedia.uploaded_at,
            Claim.tenant_id,
            Merchant.tenant_id.label("shop_tenant"),
            Buyer.identity_hash,
        )
        .join(Claim, Claim.id == ClaimMedia.claim_id)
        .join(Order, Order.id == Claim.order_id)
        .join(Merchant, Merchant.id == Order.merchant_id)
        .join(Buyer, Buyer.id == Claim.buyer_id)
    )


def _record(row: Row[Any]) -> ReuseRecord:
    return ReuseRecord(
        claim_id=row.claim_id,
        media_id=row.id,
        sha256=row.sha256,
        tenant=row.shop_tenant,
        platform=row.tenant_id,
        buyer_key=row.identity_hash,
    )


def _stored_fingerprints(
    session: Session, *, since: datetime | None, known: ReuseIndex | None
) -> tuple[datetime | None, list[tuple[ReuseRecord, Fingerprint]]]:
    """The newest analysis time, and the stored fingerprints of claim media: all of them
    (``since`` ``None``) or those of claims analysed at or after ``since``, less the
    photos ``known`` already holds. Unreadable or outdated fingerprints are left out."""
    # Read the watermark first: an analysis committed between the two reads is loaded
    # now and looked at again next time, never skipped.
    watermark = session.scalar(select(func.max(Analysis.created_at)))
    query = _media_records().where(ClaimMedia.fingerprint.is_not(None))
    if since is not None:
        # Driven from the recent analyses (claim_media is then reached by its claim_id
        # index), not a scan of every stored fingerprint.
        analysed = select(Analysis.claim_id).where(Analysis.created_at >= since)
        query = query.where(ClaimMedia.claim_id.in_(analysed))
    rows: list[tuple[ReuseRecord, Fingerprint]] = []
    skipped = 0
    for row in session.execute(query.order_by(ClaimMedia.uploaded_at, ClaimMedia.id)):
        record = _record(row)
        if known is not None and record.key in known:
            continue
        try:
            fp = Fingerprint.from_bytes(row.fingerprint)
        except ValueError:
            skipped += 1
            continue
        if fp.applicable and fp.version != FINGERPRINT_VERSION:
            skipped += 1
            continue
        rows.append((record, fp))
    if skipped:
        log.warning("reuse index: %d stored fingerprints unreadable or outdated", skipped)
    return watermark, rows


def exact_copies_in_database(
    session: Session,
    claim_id: str,
    media_ids: Mapping[str, Sequence[str]],
    listed: Iterable[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """``duplicates`` entries for the claim's photos whose exact bytes another claim
    uploaded earlier, read from the database rather than from any process's index.

    Parameters
    ----------
    session : Session
        The transaction that records the analysis.
    claim_id : str
        The claim analysed.
    media_ids : mapping
        The verdict's media ids of the claim's analysed photos, by sha256 (in upload
        order when one claim holds the same bytes twice); photos not in it were not part
        of this analysis and are not looked up.
    listed : iterable of mappings
        The entries the index already found: a pair (claim photo, earlier photo) is never
        listed twice.

    Returns
    -------
    list of dict
        Entries shaped as :func:`duplicate_entry` makes them for a sha256 match. An
        earlier photo is one of another claim uploaded before (at the same instant: of a
        claim with a smaller id), so of two claims with the same bytes only the later one
        is flagged, whichever is analysed first.
    """
    seen = {(d.get("claim_media_id"), d.get("earlier_media_id")) for d in listed}
    taken: dict[str, int] = {}
    entries: list[dict[str, Any]] = []
    mine = _media_records().where(ClaimMedia.claim_id == claim_id)
    for row in session.execute(mine.order_by(ClaimMedia.position, ClaimMedia.id)).all():
        ids = media_ids.get(row.sha256)
        if not ids:
            continue
        n = taken.get(row.sha256, 0)
        taken[row.sha256] = n + 1
        photo = _record(row)
        earlier = (
            _media_records()
            .where(
                ClaimMedia.sha256 == row.sha256,
                ClaimMedia.claim_id != claim_id,
                or_(
                    ClaimMedia.uploaded_at < row.uploaded_at,
                    and_(ClaimMedia.uploaded_at == row.uploaded_at, ClaimMedia.claim_id < claim_id),
                ),
            )
            .order_by(ClaimMedia.uploaded_at, ClaimMedia.claim_id, ClaimMedia.id)
            .limit(_MATCH_LIMIT)
        )
        for other in session.execute(earlier):
            if (photo.media_id, other.id) in seen:
                continue
            seen.add((photo.media_id, other.id))
            match = ReuseMatch(_record(other), 0, 0, "bytes", "bytes", mirrored=False)
            entries.append(_entry(ids[min(n, len(ids) - 1)], photo, match))
    return entries


def duplicate_entry(photo: PhotoToCheck, match: ReuseMatch) -> dict[str, Any]:
    """One ``duplicates`` entry: where the photo was used before and how closely it
    matches. Identifiers and comparisons only: never the earlier buyer's key or data."""
    return _entry(photo.media_id, photo.record, match)


def _entry(media_id: str, record: ReuseRecord, match: ReuseMatch) -> dict[str, Any]:
    earlier = match.record
    exact = match.query_view == "bytes"
    return {
        "media_id": media_id,
        "sha256": record.sha256,
        "claim_media_id": record.media_id,
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
        "same_tenant": earlier.platform == record.platform,
        "same_shop": earlier.tenant == record.tenant,
        "same_buyer": earlier.buyer_key == record.buyer_key,
    }
