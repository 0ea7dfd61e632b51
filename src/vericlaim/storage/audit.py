"""The append-only, hash-chained audit log.

Each row stores the previous row's hash and its own: ``sha256(prev_hash + canonical
JSON of the row)``. Appends lock the single ``audit_head`` row, so the chain never forks
under concurrent writers, and the head remembers the last sequence number and hash, so
a deleted last row is caught as surely as a deleted middle one. :func:`verify` walks the
chain and reports the first row that does not fit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vericlaim.storage.tables import AuditEntry, AuditHead

__all__ = ["GENESIS", "AuditProblem", "AuditReport", "append", "canonical_json", "verify"]

GENESIS = "0" * 64
_HEAD_ID = 1


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _row_body(entry: Any) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor_id": entry.actor_id,
        "actor_role": entry.actor_role,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "reason_code": entry.reason_code,
        "evidence_hashes": list(entry.evidence_hashes),
        "details": entry.details,
    }


def _hash(prev_hash: str, entry: Any) -> str:
    return hashlib.sha256((prev_hash + canonical_json(_row_body(entry))).encode()).hexdigest()


def append(
    session: Session,
    *,
    at: datetime,
    actor_id: str,
    actor_role: str,
    action: str,
    subject_type: str,
    subject_id: str,
    reason_code: str = "",
    evidence_hashes: Sequence[str] = (),
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one row at the end of the chain (inside the caller's transaction)."""
    head = session.scalars(
        select(AuditHead).where(AuditHead.id == _HEAD_ID).with_for_update()
    ).one_or_none()
    if head is None:
        head = AuditHead(id=_HEAD_ID, last_seq=0, last_hash=GENESIS)
        session.add(head)
    entry = AuditEntry(
        seq=head.last_seq + 1,
        at=at.astimezone(UTC),
        actor_id=actor_id,
        actor_role=actor_role,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        reason_code=reason_code,
        evidence_hashes=sorted(set(evidence_hashes)),
        details=json.loads(canonical_json(details or {})),
        prev_hash=head.last_hash,
        row_hash="",
    )
    entry.row_hash = _hash(entry.prev_hash, entry)
    session.add(entry)
    head.last_seq, head.last_hash = entry.seq, entry.row_hash
    session.flush()
    return entry


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """One place where the chain does not hold: ``seq`` of the row (or of the gap)."""

    seq: int
    problem: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    rows: int
    problems: tuple[AuditProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(session: Session, *, batch: int = 1000) -> AuditReport:
    """Walk the whole chain; every edited, deleted or inserted row becomes a problem."""
    problems: list[AuditProblem] = []
    prev_hash, expected_seq, rows = GENESIS, 1, 0
    last_seq = 0
    while True:
        # Plain rows, not entities: a long log must not fill the session's identity map.
        entries = session.execute(
            select(*AuditEntry.__table__.columns)
            .where(AuditEntry.seq > last_seq)
            .order_by(AuditEntry.seq)
            .limit(batch)
        ).all()
        if not entries:
            break
        for entry in entries:
            rows += 1
            if entry.seq != expected_seq:
                problems.append(
                    AuditProblem(expected_seq, f"rows {expected_seq}..{entry.seq - 1} missing")
                )
            if entry.prev_hash != prev_hash:
                problems.append(AuditProblem(entry.seq, "previous-row hash does not match"))
            if _hash(entry.prev_hash, entry) != entry.row_hash:
                problems.append(AuditProblem(entry.seq, "row content does not match its hash"))
            prev_hash, expected_seq, last_seq = entry.row_hash, entry.seq + 1, entry.seq
    head = session.get(AuditHead, _HEAD_ID)
    head_seq, head_hash = (head.last_seq, head.last_hash) if head else (0, GENESIS)
    if head_seq != last_seq or head_hash != prev_hash:
        problems.append(
            AuditProblem(last_seq + 1, f"chain ends at row {last_seq}, head says {head_seq}")
        )
    return AuditReport(rows, tuple(problems))
