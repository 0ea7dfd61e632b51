from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, text

from tests.dbsupport import START
from vericlaim.storage import audit
from vericlaim.storage.db import session_factory, transaction


def _write_chain(engine: Engine, rows: int = 5) -> None:
    sessions = session_factory(engine)
    for i in range(rows):
        with transaction(sessions) as s:
            audit.append(
                s,
                at=START + timedelta(minutes=i),
                actor_id="key_reviewer",
                actor_role="reviewer",
                action="claim.decide",
                subject_type="claim",
                subject_id=f"clm_{i}",
                reason_code="decision.denied",
                evidence_hashes=["b" * 64, "a" * 64],
                details={"outcome": "denied", "note": "裂痕为后期添加", "refund_fen": 0},
            )


def _verify(engine: Engine) -> audit.AuditReport:
    with transaction(session_factory(engine)) as s:
        return audit.verify(s)


def test_an_intact_chain_verifies(engine: Engine) -> None:
    _write_chain(engine)
    report = _verify(engine)
    assert report.ok and report.rows == 5


def test_an_edited_row_is_found(engine: Engine) -> None:
    _write_chain(engine)
    with engine.begin() as c:
        c.execute(text("UPDATE audit_log SET reason_code = 'decision.approved' WHERE seq = 3"))
    report = _verify(engine)
    assert not report.ok
    assert [p.seq for p in report.problems] == [3]


def test_an_edited_row_with_its_own_hash_recomputed_breaks_the_next_link(engine: Engine) -> None:
    _write_chain(engine)
    with transaction(session_factory(engine)) as s:
        entry = s.get(audit.AuditEntry, 2)
        assert entry is not None
        entry.details = {"outcome": "approved"}
        entry.row_hash = audit._hash(entry.prev_hash, entry)
    report = _verify(engine)
    assert [p.seq for p in report.problems] == [3]


def test_a_deleted_middle_row_is_found(engine: Engine) -> None:
    _write_chain(engine)
    with engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    report = _verify(engine)
    assert not report.ok
    assert any("missing" in p.problem for p in report.problems)


def test_a_deleted_last_row_is_found(engine: Engine) -> None:
    _write_chain(engine)
    with engine.begin() as c:
        c.execute(text("DELETE FROM audit_log WHERE seq = 5"))
    report = _verify(engine)
    assert [p.problem for p in report.problems] == ["chain ends at row 4, head says 5"]


def test_the_chain_continues_across_transactions_and_stays_verifiable(engine: Engine) -> None:
    _write_chain(engine, rows=2)
    _write_chain(engine, rows=2)
    with engine.connect() as c:
        seqs = [row[0] for row in c.execute(text("SELECT seq FROM audit_log ORDER BY seq"))]
    assert seqs == [1, 2, 3, 4]
    assert _verify(engine).ok
