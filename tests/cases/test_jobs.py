"""The durable queue: leases, retries, and a worker that dies mid-analysis."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from tests.cases.world import build_world, state_of, submit
from tests.dbsupport import Db
from vericlaim.cases import jobs, service
from vericlaim.errors import LeaseLost
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import Analysis, AnalysisJob


def _job(db: Db) -> AnalysisJob:
    with transaction(db.sessions) as s:
        return s.scalars(select(AnalysisJob)).one()


def test_a_worker_runs_the_real_analysis_and_completes_the_job(db: Db) -> None:
    world = build_world(db)
    claim_id = submit(db, world, enqueue=True)
    assert jobs.run_worker(db.sessions, db.ctx, worker_id="w1", until_idle=True) == 1
    job = _job(db)
    assert (job.status, job.attempts, job.lease_owner) == ("done", 1, "w1")
    assert state_of(db, claim_id, world.platform) == "awaiting_merchant"
    with transaction(db.sessions) as s:
        analysis = service.latest_analysis(s, db.ctx, world.merchant, claim_id)
    assert analysis is not None and analysis.job_id == job.id
    assert analysis.verdict == "likely_manipulated"


def test_a_worker_killed_mid_analysis_loses_nothing_and_the_job_completes_exactly_once(
    db: Db,
) -> None:
    world = build_world(db)
    claim_id = submit(db, world, enqueue=True)
    # Worker A claims the job, computes, and dies before it can complete.
    with transaction(db.sessions) as s:
        lease_a = jobs.claim_next(s, db.ctx, "worker-a")
        assert lease_a is not None
        inputs = service.analysis_inputs(s, claim_id)
    result_a = service.compute_analysis(db.ctx, inputs)
    with transaction(db.sessions) as s:  # nothing else can take it while the lease holds
        assert jobs.claim_next(s, db.ctx, "worker-b") is None

    db.clock.advance(seconds=db.ctx.settings.job_lease_seconds + 1)
    assert jobs.run_worker(db.sessions, db.ctx, worker_id="worker-b", until_idle=True) == 1

    # Worker A comes back to life and tries to finish: refused, and its analysis rolls back.
    with pytest.raises(LeaseLost), transaction(db.sessions) as s:
        jobs.complete(s, db.ctx, lease_a)
        service.record_analysis(s, db.ctx, claim_id, result_a, job_id=lease_a.job_id)
    with pytest.raises(LeaseLost), transaction(db.sessions) as s:
        jobs.heartbeat(s, db.ctx, lease_a)

    job = _job(db)
    assert (job.status, job.attempts, job.lease_owner) == ("done", 2, "worker-b")
    with transaction(db.sessions) as s:
        assert s.scalar(select(func.count()).select_from(Analysis)) == 1
    assert state_of(db, claim_id, world.platform) == "awaiting_merchant"


def test_failures_retry_with_a_doubling_wait_then_send_the_claim_to_review(db: Db) -> None:
    world = build_world(db)
    claim_id = submit(db, world, enqueue=True)
    waits = []
    for attempt in range(1, db.ctx.settings.job_max_attempts + 1):
        with transaction(db.sessions) as s:
            lease = jobs.claim_next(s, db.ctx, "w")
            assert lease is not None and lease.attempt == attempt
            status = jobs.fail(s, db.ctx, lease, "decoder crashed")
        job = _job(db)
        if status == "queued":
            waits.append((job.run_after - db.clock()).total_seconds())
            with transaction(db.sessions) as s:
                assert jobs.claim_next(s, db.ctx, "w") is None  # not before its time
            db.clock.now = job.run_after
    assert waits == [30.0, 60.0, 120.0, 240.0]
    assert _job(db).status == "failed"
    assert state_of(db, claim_id, world.platform) == "in_review"


def test_concurrent_workers_never_take_the_same_job(db: Db) -> None:
    world = build_world(db)
    for i in range(6):
        submit(db, world, key=f"k{i}", enqueue=True)
    taken: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            with transaction(db.sessions) as s:
                lease = jobs.claim_next(s, db.ctx, name)
            if lease is None:
                return
            with lock:
                taken.append(lease.job_id)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(taken) == 6 and len(set(taken)) == 6
