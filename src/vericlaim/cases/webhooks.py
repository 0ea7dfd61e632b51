"""Delivery of the webhook outbox: signed POSTs, retries with a doubling wait.

Every state change writes an outbox row in the transaction that made it
(:func:`vericlaim.cases._moves.record_event`); this loop sends them. A delivery is a
``POST`` of the event's JSON to the tenant's URL (``webhook_urls``) with::

    X-Vericlaim-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">

keyed with ``webhook_signing_key``. A 2xx answer marks the row delivered; anything else
(an error status, a timeout, a refused connection) is a failed attempt, retried after
``webhook_retry_seconds`` doubled per attempt, until ``webhook_max_attempts`` attempts
have failed: the row then stays undelivered with its last error (failed for good).
Delivery is at least once: a subscriber de-duplicates on the ``X-Vericlaim-Event-Id``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from vericlaim.cases.model import ServiceContext
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import WebhookOutbox

__all__ = [
    "SIGNATURE_HEADER",
    "DeliveryReport",
    "deliver_due",
    "sign",
    "verify_signature",
]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Vericlaim-Signature"
SIGNATURE_TOLERANCE_SECONDS = 300


def sign(key: bytes, body: bytes, timestamp: int) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_signature(
    key: bytes,
    body: bytes,
    header: str,
    *,
    now: int,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a subscriber does: the header parses, is fresh and matches the body."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
        expected = sign(key, body, timestamp).split("v1=", 1)[1]
        return abs(now - timestamp) <= tolerance and hmac.compare_digest(expected, parts["v1"])
    except (KeyError, ValueError):
        return False


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    delivered: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class _Pending:
    id: str
    tenant_id: str
    event_type: str
    body: bytes
    attempts: int


def _due(session: Session, ctx: ServiceContext, now: datetime, limit: int) -> list[_Pending]:
    urls = ctx.settings.webhook_urls
    if not urls:
        return []
    rows = session.scalars(
        select(WebhookOutbox)
        .where(
            WebhookOutbox.delivered_at.is_(None),
            WebhookOutbox.next_attempt_at <= now,
            WebhookOutbox.attempts < ctx.settings.webhook_max_attempts,
            WebhookOutbox.tenant_id.in_(list(urls)),
        )
        .order_by(WebhookOutbox.next_attempt_at, WebhookOutbox.id)
        .limit(limit)
    ).all()
    return [
        _Pending(r.id, r.tenant_id, r.event_type, r.payload_json.encode(), r.attempts) for r in rows
    ]


def deliver_due(
    sessions: sessionmaker[Session],
    ctx: ServiceContext,
    *,
    client: httpx.Client | None = None,
    limit: int = 100,
) -> DeliveryReport:
    """Send every due event once (no transaction is held during the HTTP calls) and
    record the outcome of each."""
    now = ctx.now()
    with transaction(sessions) as session:
        pending = _due(session, ctx, now, limit)
    if not pending:
        return DeliveryReport()
    settings = ctx.settings
    key = settings.webhook_signing_key.get_secret_value().encode()
    own = client is None
    http = client or httpx.Client(timeout=settings.webhook_timeout_seconds)
    delivered = retried = failed = 0
    try:
        for event in pending:
            error = _post(http, settings.webhook_urls[event.tenant_id], key, event, ctx.now())
            with transaction(sessions) as session:
                row = session.get(WebhookOutbox, event.id)
                if row is None or row.delivered_at is not None:
                    continue
                row.attempts += 1
                if error is None:
                    row.delivered_at, row.last_error = ctx.now(), None
                    delivered += 1
                    continue
                row.last_error = error[:2000]
                wait = settings.webhook_retry_seconds * 2 ** (row.attempts - 1)
                row.next_attempt_at = ctx.now() + timedelta(seconds=wait)
                if row.attempts >= settings.webhook_max_attempts:
                    log.warning("webhook %s failed for good: %s", event.id, error)
                    failed += 1
                else:
                    retried += 1
    finally:
        if own:
            http.close()
    return DeliveryReport(delivered, retried, failed)


def _post(http: httpx.Client, url: str, key: bytes, event: _Pending, now: datetime) -> str | None:
    """``None`` on a 2xx answer, else why the attempt failed."""
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(key, event.body, int(now.timestamp())),
        "X-Vericlaim-Event": event.event_type,
        "X-Vericlaim-Event-Id": event.id,
    }
    try:
        response = http.post(url, content=event.body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"
