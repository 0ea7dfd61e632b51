"""The durable analysis queue: jobs are rows, claimed under a lease in a transaction.

A worker claims a job (PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``; SQLite: one
atomic ``UPDATE ... WHERE status = 'queued' ... RETURNING``), computes the analysis with
no transaction open, renews its lease after every photo, and completes the job in the
same transaction that records the analysis. Completion only succeeds while the worker
still holds the lease, so when a worker dies (or stalls past its lease) and another one
takes the job over, exactly one analysis is recorded.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Row, select, update
from sqlalchemy.orm import Session, sessionmaker

from vericlaim.cases._moves import load_claim, move
from vericlaim.cases.model import Actor, ServiceContext
from vericlaim.cases.workflow import ClaimState, Event
from vericlaim.errors import LeaseLost
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import AnalysisJob, new_id

__all__ = [
    "JobLease",
    "claim_next",
    "complete",
    "enqueue",
    "fail",
    "heartbeat",
    "process_one",
    "reclaim_expired",
    "run_worker",
    "worker_name",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class JobLease:
    """A job held by a worker until ``expires_at`` (renewed by :func:`heartbeat`)."""

    job_id: str
    claim_id: str
    worker_id: str
    attempt: int
    expires_at: datetime


def worker_name() -> str:
    """A worker id that says where it runs: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def enqueue(session: Session, ctx: ServiceContext, claim_id: str) -> str:
    now = ctx.now()
    job = AnalysisJob(
        id=new_id("job"),
        claim_id=claim_id,
        status="queued",
        attempts=0,
        max_attempts=ctx.settings.job_max_attempts,
        run_after=now,
        created_at=now,
        updated_at=now,
    )
    session.add(job)
    session.flush()
    return job.id


def _lease(ctx: ServiceContext, now: datetime) -> datetime:
    return now + timedelta(seconds=ctx.settings.job_lease_seconds)


def claim_next(
    session: Session, ctx: ServiceContext, worker_id: str, *, now: datetime | None = None
) -> JobLease | None:
    """Take the oldest runnable job, or ``None`` when there is none."""
    now = now or ctx.now()
    expires = _lease(ctx, now)
    runnable = (AnalysisJob.status == "queued", AnalysisJob.run_after <= now)
    order = (AnalysisJob.run_after, AnalysisJob.created_at, AnalysisJob.id)
    values = {
        "status": "running",
        "lease_owner": worker_id,
        "lease_expires_at": expires,
        "attempts": AnalysisJob.attempts + 1,
        "updated_at": now,
    }
    row: Row[str, str, int] | None
    if session.get_bind().dialect.name == "postgresql":
        job_id = session.scalar(
            select(AnalysisJob.id)
            .where(*runnable)
            .order_by(*order)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if job_id is None:
            return None
        row = session.execute(
            update(AnalysisJob)
            .where(AnalysisJob.id == job_id)
            .values(values)
            .returning(AnalysisJob.id, AnalysisJob.claim_id, AnalysisJob.attempts)
            .execution_options(synchronize_session=False)
        ).one()
    else:
        oldest = select(AnalysisJob.id).where(*runnable).order_by(*order).limit(1)
        row = session.execute(
            update(AnalysisJob)
            .where(AnalysisJob.id == oldest.scalar_subquery(), AnalysisJob.status == "queued")
            .values(values)
            .returning(AnalysisJob.id, AnalysisJob.claim_id, AnalysisJob.attempts)
            .execution_options(synchronize_session=False)
        ).one_or_none()
    if row is None:
        return None
    return JobLease(row.id, row.claim_id, worker_id, row.attempts, expires)


def heartbeat(
    session: Session, ctx: ServiceContext, lease: JobLease, *, now: datetime | None = None
) -> JobLease:
    """Renew the lease; raises :class:`LeaseLost` when the job is no longer this worker's."""
    now = now or ctx.now()
    expires = _lease(ctx, now)
    result = session.execute(
        update(AnalysisJob)
        .where(*_held(lease))
        .values(lease_expires_at=expires, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"job {lease.job_id}: lease passed from {lease.worker_id}")
    return JobLease(lease.job_id, lease.claim_id, lease.worker_id, lease.attempt, expires)


def _held(lease: JobLease) -> tuple[ColumnElement[bool], ...]:
    return (
        AnalysisJob.id == lease.job_id,
        AnalysisJob.status == "running",
        AnalysisJob.lease_owner == lease.worker_id,
    )


def complete(
    session: Session, ctx: ServiceContext, lease: JobLease, *, now: datetime | None = None
) -> None:
    """Mark the job done; raises :class:`LeaseLost` (and the caller's transaction, with
    the analysis in it, must roll back) when another worker holds it now."""
    now = now or ctx.now()
    result = session.execute(
        update(AnalysisJob)
        .where(*_held(lease))
        .values(status="done", finished_at=now, updated_at=now, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"job {lease.job_id}: lease passed from {lease.worker_id}")


def fail(
    session: Session,
    ctx: ServiceContext,
    lease: JobLease,
    error: str,
    *,
    now: datetime | None = None,
) -> str:
    """Record a failed attempt: queued again after a doubling wait, or ``failed`` for
    good after ``max_attempts`` (the claim then goes to human review). Returns the
    job's new status."""
    now = now or ctx.now()
    job = session.scalars(select(AnalysisJob).where(*_held(lease)).with_for_update()).one_or_none()
    if job is None:
        raise LeaseLost(f"job {lease.job_id}: lease passed from {lease.worker_id}")
    _retry_or_fail(session, ctx, job, error, now)
    return job.status


def _retry_or_fail(
    session: Session, ctx: ServiceContext, job: AnalysisJob, error: str, now: datetime
) -> None:
    job.last_error = error[:2000]
    job.lease_owner, job.lease_expires_at, job.updated_at = None, None, now
    if job.attempts < job.max_attempts:
        wait = ctx.settings.job_retry_seconds * 2 ** max(job.attempts - 1, 0)
        job.status, job.run_after = "queued", now + timedelta(seconds=wait)
        return
    job.status, job.finished_at = "failed", now
    claim = load_claim(session, job.claim_id)
    system = Actor.system("analysis")
    if claim.state == ClaimState.RECEIVED:  # failed before any attempt got going
        move(session, ctx, claim, Event.START_ANALYSIS, system, now=now)
    if claim.state == ClaimState.ANALYSING:
        move(
            session,
            ctx,
            claim,
            Event.ANALYSIS_FAILED,
            system,
            now=now,
            reason_code="analysis.failed",
            details={"job_id": job.id, "error": job.last_error, "attempts": job.attempts},
        )
    session.flush()


def reclaim_expired(session: Session, ctx: ServiceContext, *, now: datetime | None = None) -> int:
    """Put jobs whose worker let the lease lapse back in the queue (or fail them when
    their attempts are used up). Returns how many were reclaimed."""
    now = now or ctx.now()
    query = select(AnalysisJob).where(
        AnalysisJob.status == "running", AnalysisJob.lease_expires_at < now
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    jobs = session.scalars(query).all()
    for job in jobs:
        log.warning("job %s: lease of %s expired, reclaiming", job.id, job.lease_owner)
        _retry_or_fail(session, ctx, job, f"lease of {job.lease_owner} expired", now)
        if job.status == "queued":
            job.run_after = now  # the worker died; nothing says the job itself is bad
    session.flush()
    return len(jobs)


def process_one(sessions: sessionmaker[Session], ctx: ServiceContext, worker_id: str) -> bool:
    """Claim one job and run it to the end; ``False`` when the queue had nothing."""
    from vericlaim.cases._analysis import analysis_inputs, compute_analysis, record_analysis

    with transaction(sessions) as session:
        reclaim_expired(session, ctx)
        lease = claim_next(session, ctx, worker_id)
        if lease is None:
            return False
        claim = load_claim(session, lease.claim_id)
        if claim.state == ClaimState.RECEIVED:
            move(session, ctx, claim, Event.START_ANALYSIS, Actor.system(worker_id))
        elif claim.state != ClaimState.ANALYSING:  # withdrawn meanwhile: nothing to analyse
            complete(session, ctx, lease)
            return True
        inputs = analysis_inputs(session, lease.claim_id)

    current = lease

    def renew(_media_id: str) -> None:
        nonlocal current
        with transaction(sessions) as session:
            current = heartbeat(session, ctx, current)

    try:
        result = compute_analysis(ctx, inputs, progress=renew)
        with transaction(sessions) as session:
            complete(session, ctx, current)
            record_analysis(session, ctx, lease.claim_id, result, job_id=lease.job_id)
    except LeaseLost:
        log.warning("job %s: lease lost by %s; its result is dropped", lease.job_id, worker_id)
    except Exception as exc:
        log.exception("job %s: attempt %d failed", lease.job_id, lease.attempt)
        try:
            with transaction(sessions) as session:
                fail(session, ctx, current, f"{type(exc).__name__}: {exc}")
        except LeaseLost:
            pass
    return True


def run_worker(
    sessions: sessionmaker[Session],
    ctx: ServiceContext,
    *,
    worker_id: str | None = None,
    stop: threading.Event | Callable[[], bool] | None = None,
    poll_seconds: float = 1.0,
    until_idle: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Process jobs until ``stop`` is set, or with ``until_idle`` until the queue is
    empty; sleep ``poll_seconds`` when there is nothing to do. Returns the number of jobs
    processed."""
    worker_id = worker_id or worker_name()
    should_stop: Callable[[], bool]
    if stop is None:
        should_stop = _never
    elif isinstance(stop, threading.Event):
        should_stop = stop.is_set
    else:
        should_stop = stop
    done = 0
    while not should_stop():
        if process_one(sessions, ctx, worker_id):
            done += 1
        elif until_idle:
            break
        else:
            sleep(poll_seconds)
    return done


def _never() -> bool:
    return False
