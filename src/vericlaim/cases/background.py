"""The processes around the API: analysis workers, the clock scheduler, webhook delivery.

``vericlaim serve`` runs all three as threads beside the HTTP server; ``vericlaim worker``
runs workers alone, to scale analysis out over processes or machines (the job queue is
in the database, so any number of them share it safely).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from vericlaim.cases import jobs, webhooks
from vericlaim.cases._clocks import tick
from vericlaim.cases.model import ServiceContext
from vericlaim.storage.db import transaction

__all__ = ["Background", "run_scheduler", "run_webhooks"]

log = logging.getLogger(__name__)

TICK_SECONDS = 60.0
"""How often the scheduler applies the SLA clocks (reminders, timeouts)."""
WEBHOOK_POLL_SECONDS = 2.0


def _loop(stop: threading.Event, every: float, step: Callable[[], object], name: str) -> None:
    while not stop.is_set():
        try:
            step()
        except Exception:  # one bad pass must not end the loop
            log.exception("%s: pass failed", name)
        stop.wait(every)


def run_scheduler(
    sessions: sessionmaker[Session],
    ctx: ServiceContext,
    stop: threading.Event,
    *,
    every: float = TICK_SECONDS,
) -> None:
    """Call :func:`vericlaim.cases.service.tick` with the current time every ``every`` s."""

    def step() -> None:
        with transaction(sessions) as session:
            report = tick(session, ctx, ctx.now())
        if report.reminders or report.timeouts:
            log.info(
                "clocks: %d reminders, %d timeouts", len(report.reminders), len(report.timeouts)
            )

    _loop(stop, every, step, "scheduler")


def run_webhooks(
    sessions: sessionmaker[Session],
    ctx: ServiceContext,
    stop: threading.Event,
    *,
    every: float = WEBHOOK_POLL_SECONDS,
) -> None:
    """Deliver due webhook events every ``every`` seconds."""
    _loop(stop, every, lambda: webhooks.deliver_due(sessions, ctx), "webhooks")


@dataclass
class Background:
    """Worker, scheduler and webhook threads that stop together."""

    sessions: sessionmaker[Session]
    ctx: ServiceContext
    workers: int = 2
    scheduler: bool = True
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Background:
        for index in range(self.workers):
            self._spawn(f"worker-{index}", self._work)
        if self.scheduler:
            self._spawn("scheduler", lambda: run_scheduler(self.sessions, self.ctx, self.stop))
            self._spawn("webhooks", lambda: run_webhooks(self.sessions, self.ctx, self.stop))
        return self

    def _work(self) -> None:
        while not self.stop.is_set():
            try:
                jobs.run_worker(self.sessions, self.ctx, stop=self.stop, sleep=self._sleep)
            except Exception:  # the database went away: wait, then take jobs again
                log.exception("worker stopped by an error; restarting in 5 s")
                self.stop.wait(5.0)

    def _sleep(self, seconds: float) -> None:
        self.stop.wait(seconds)  # wakes at once when the threads are told to stop

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"vericlaim-{name}", daemon=True)
        thread.start()
        self.threads.append(thread)

    def close(self, timeout: float = 30.0) -> None:
        """Ask every thread to stop after its current job, and wait for them."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
