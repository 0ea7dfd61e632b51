"""Reads behind access checks: a claim's stored media, the audit chain's verification."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vericlaim.cases._access import check_claim_access, require_role
from vericlaim.cases._moves import load_claim
from vericlaim.cases.model import Actor, MediaView, ServiceContext
from vericlaim.cases.workflow import Role
from vericlaim.errors import NotFound
from vericlaim.storage import audit
from vericlaim.storage.tables import ClaimMedia

__all__ = ["claim_media", "verify_audit"]


def claim_media(
    session: Session, ctx: ServiceContext, actor: Actor, claim_id: str, media_id: str
) -> tuple[MediaView, bytes]:
    """One photo or video of a claim, for an actor who may see the claim; the bytes are
    re-hashed on read (``BlobCorrupt`` when they no longer match)."""
    claim = load_claim(session, claim_id, lock=False)
    check_claim_access(session, actor, claim)
    row = session.scalars(
        select(ClaimMedia).where(ClaimMedia.claim_id == claim_id, ClaimMedia.id == media_id)
    ).one_or_none()
    if row is None:
        raise NotFound("media", media_id)
    view = MediaView(row.id, row.claim_id, row.role, row.sha256, row.filename, row.uploaded_at)
    return view, ctx.blobs.get(row.sha256)


def verify_audit(session: Session, ctx: ServiceContext, actor: Actor) -> audit.AuditReport:
    """Walk the hash-chained audit log (administrators only)."""
    require_role(actor, Role.ADMIN, Role.SYSTEM, action="verifying the audit log")
    return audit.verify(session)
