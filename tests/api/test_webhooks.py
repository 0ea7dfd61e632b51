"""Webhook delivery: signed POSTs of the outbox, retries with a doubling wait, failure."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.cases.world import build_world, submit
from tests.dbsupport import Db
from vericlaim.cases import webhooks
from vericlaim.cases.model import ServiceContext
from vericlaim.settings import get_settings
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import WebhookOutbox

KEY = "a subscriber's signing key"


def _ctx(db: Db, tmp_path: Path, urls: dict[str, str]) -> ServiceContext:
    settings = get_settings(
        data_dir=tmp_path / "data",
        webhook_signing_key=KEY,
        webhook_urls=urls,
        webhook_max_attempts=3,
        webhook_retry_seconds=10,
    )
    return ServiceContext.from_settings(settings, clock=db.clock, analyzers=db.ctx.analyzers)


def _outbox(db: Db) -> list[WebhookOutbox]:
    with transaction(db.sessions) as s:
        return list(s.scalars(select(WebhookOutbox).order_by(WebhookOutbox.id)))


def test_events_are_signed_and_delivered_once(db: Db, tmp_path: Path) -> None:
    world = build_world(db)
    claim_id = submit(db, world)
    tenant = world.platform.tenant_id
    assert tenant is not None
    ctx = _ctx(db, tmp_path, {tenant: "https://platform.example/hooks"})
    received: list[httpx.Request] = []

    def subscriber(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    with httpx.Client(transport=httpx.MockTransport(subscriber)) as client:
        report = webhooks.deliver_due(db.sessions, ctx, client=client)
        assert report == webhooks.DeliveryReport(delivered=1)
        assert webhooks.deliver_due(db.sessions, ctx, client=client) == webhooks.DeliveryReport()

    (request,) = received
    body = request.content
    assert json.loads(body)["claim_id"] == claim_id
    assert json.loads(body)["event"] == "claim.received"
    now = int(db.clock().timestamp())
    header = request.headers[webhooks.SIGNATURE_HEADER]
    assert header.startswith(f"t={now},v1=")
    assert webhooks.verify_signature(KEY.encode(), body, header, now=now)
    assert not webhooks.verify_signature(b"another key", body, header, now=now)
    assert not webhooks.verify_signature(KEY.encode(), body + b" ", header, now=now)
    assert not webhooks.verify_signature(KEY.encode(), body, header, now=now + 3600)
    delivered = [row for row in _outbox(db) if row.tenant_id == tenant]
    assert delivered[0].delivered_at is not None and delivered[0].attempts == 1
    # The shop's tenant has no URL: its copy of the event waits, undelivered.
    assert all(row.delivered_at is None for row in _outbox(db) if row.tenant_id != tenant)


def test_failures_retry_with_a_doubling_wait_then_fail_for_good(db: Db, tmp_path: Path) -> None:
    world = build_world(db)
    submit(db, world)
    tenant = world.platform.tenant_id
    assert tenant is not None
    ctx = _ctx(db, tmp_path, {tenant: "https://platform.example/hooks"})
    answers = iter([httpx.Response(500), httpx.ConnectError("refused"), httpx.Response(503)])

    def flaky(_request: httpx.Request) -> httpx.Response:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    waits = []
    with httpx.Client(transport=httpx.MockTransport(flaky)) as client:
        for expected in ("retried", "retried", "failed"):
            report = webhooks.deliver_due(db.sessions, ctx, client=client)
            assert getattr(report, expected) == 1, report
            (row,) = [r for r in _outbox(db) if r.tenant_id == tenant]
            waits.append((row.next_attempt_at - db.clock()).total_seconds())
            assert webhooks.deliver_due(db.sessions, ctx, client=client).retried == 0  # not yet
            db.clock.advance(seconds=waits[-1])
        assert webhooks.deliver_due(db.sessions, ctx, client=client) == webhooks.DeliveryReport()
    assert waits[:2] == [10.0, 20.0]
    (row,) = [r for r in _outbox(db) if r.tenant_id == tenant]
    assert row.delivered_at is None and row.attempts == 3 and row.last_error == "HTTP 503"


@pytest.mark.parametrize("header", ["", "t=abc,v1=00", "v1=00", "nonsense"])
def test_a_malformed_signature_is_refused(header: str) -> None:
    assert not webhooks.verify_signature(b"k", b"{}", header, now=0)


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    digest = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert webhooks.sign(b"k", b"{}", 1_700_000_000) == f"t=1700000000,v1={digest}"
